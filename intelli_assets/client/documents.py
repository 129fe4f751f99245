"""The GraphQL documents the client sends to the Dagster webserver (`/graphql`), in one place.
They are the webserver's public API: the README shows the same ones for non-Python clients."""

METADATA = """
fragment Metadata on MetadataEntry {
  label
  ... on JsonMetadataEntry { jsonString }
  ... on TextMetadataEntry { text }
  ... on PathMetadataEntry { path }
  ... on IntMetadataEntry { intRepr }
  ... on FloatMetadataEntry { floatValue }
  ... on BoolMetadataEntry { boolValue }
  ... on UrlMetadataEntry { url }
  ... on MarkdownMetadataEntry { mdStr }
}
"""

EVENT = """
fragment Event on DagsterRunEvent {
  __typename
  ... on MessageEvent { runId message timestamp stepKey eventType }
  ... on MaterializationEvent { assetKey { path } partition metadataEntries { ...Metadata } }
  ... on ObservationEvent { assetKey { path } partition metadataEntries { ...Metadata } }
  ... on ExecutionStepFailureEvent {
    error { message causes { message } }
    failureMetadata { description metadataEntries { ...Metadata } }
  }
  ... on AssetCheckEvaluationEvent { evaluation { checkName success description } }
}
""" + METADATA

REPOSITORIES = """
query Repositories {
  workspaceOrError {
    __typename
    ... on Workspace { locationEntries { name locationOrLoadError {
      __typename
      ... on RepositoryLocation { repositories { name jobs { name } } }
      ... on PythonError { message }
    } } }
    ... on PythonError { message }
  }
}
"""

PARTITIONS = """
query Partitions($repositorySelector: RepositorySelector!, $job: String!) {
  partitionSetsOrError(repositorySelector: $repositorySelector, pipelineName: $job) {
    __typename
    ... on PartitionSets { results { name partitionsOrError { __typename ... on Partitions { results { name } } } } }
    ... on PythonError { message }
  }
}
"""

DATASET_STATE = """
query DatasetState($partitions: [String!]) {
  dataset: assetOrError(assetKey: {path: ["patent_dataset"]}) {
    __typename ... on Asset { assetMaterializations(partitions: $partitions, limit: 1) { runId } }
  }
  source: assetOrError(assetKey: {path: ["raw_source"]}) {
    __typename
    ... on Asset {
      assetMaterializations(partitions: $partitions, limit: 1) { runId metadataEntries { ...Metadata } }
      assetObservations(partitions: $partitions, limit: 1) { runId }
    }
  }
}
""" + METADATA

LAUNCH = """
mutation Launch($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on RunConfigValidationInvalid { errors { message reason } }
    ... on InvalidSubsetError { message }
    ... on PipelineNotFoundError { message }
    ... on PythonError { message }
    ... on Error { message }
  }
}
"""

RUNS = """
query Runs($filter: RunsFilter!, $limit: Int) {
  runsOrError(filter: $filter, limit: $limit) {
    __typename
    ... on Runs { results {
      runId status jobName creationTime runConfigYaml
      tags { key value }
      assetSelection { path }
    } }
    ... on Error { message }
  }
}
"""

RUN_LOGS = """
query RunLogs($runId: ID!, $afterCursor: String, $limit: Int) {
  logsForRun(runId: $runId, afterCursor: $afterCursor, limit: $limit) {
    __typename
    ... on EventConnection { cursor hasMore events { ...Event } }
    ... on Error { message }
  }
}
""" + EVENT

RUN_LOGS_SUBSCRIPTION = """
subscription RunLogs($runId: ID!, $cursor: String) {
  pipelineRunLogs(runId: $runId, cursor: $cursor) {
    __typename
    ... on PipelineRunLogsSubscriptionSuccess { cursor hasMorePastEvents messages { ...Event } }
    ... on PipelineRunLogsSubscriptionFailure { message missingRunId }
  }
}
""" + EVENT

CANCEL_REQUEST = """
mutation CancelChart($eventParams: ReportRunlessAssetEventsParams!) {
  reportRunlessAssetEvents(eventParams: $eventParams) {
    __typename
    ... on ReportRunlessAssetEventsSuccess { assetKey { path } }
    ... on Error { message }
  }
}
"""

TERMINATE = """
mutation Terminate($runId: String!, $policy: TerminateRunPolicy) {
  terminateRun(runId: $runId, terminatePolicy: $policy) {
    __typename
    ... on TerminateRunSuccess { run { runId status } }
    ... on TerminateRunFailure { message run { runId status } }
    ... on Error { message }
  }
}
"""

DAEMON_HEALTH = """
query DaemonHealth {
  instance { daemonHealth { allDaemonStatuses { daemonType healthy required lastHeartbeatTime } } }
  version
}
"""
