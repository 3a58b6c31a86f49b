/**
 * What berthd's CRI services implement. One async method per RPC: it receives the decoded request
 * (the generated `__Output` type: snake_case fields, defaults filled in, int64 as decimal strings,
 * enums as names) and resolves to the response (the permissive input type: numbers or strings for
 * int64, names or numbers for enums). Throw BerthError for expected failures; src/cri/server.ts maps
 * the code to a gRPC status. A method left out of an implementation answers UNIMPLEMENTED.
 */
import type * as cri from './generated';

/** Per-call context handed to every method. */
export interface CallContext {
  /** Aborted when the client cancels the call or its deadline passes. */
  readonly signal: AbortSignal;
  /** The client's deadline, if it set one. */
  readonly deadline?: Date;
  /** Full method name, e.g. `/runtime.v1.RuntimeService/Version` (for logs). */
  readonly method: string;
}

/** Sink of a server-streaming RPC. */
export interface ServerStreamSink<T> {
  /** Sends one message; false means the transport buffer is full (wait for `drained()`). */
  write(message: T): boolean;
  /** Resolves when the transport can take more messages. */
  drained(): Promise<void>;
}

export interface RuntimeServiceImpl {
  Version(req: cri.VersionRequest__Output, ctx: CallContext): Promise<cri.VersionResponse>;
  RunPodSandbox(req: cri.RunPodSandboxRequest__Output, ctx: CallContext): Promise<cri.RunPodSandboxResponse>;
  StopPodSandbox(req: cri.StopPodSandboxRequest__Output, ctx: CallContext): Promise<cri.StopPodSandboxResponse>;
  RemovePodSandbox(req: cri.RemovePodSandboxRequest__Output, ctx: CallContext): Promise<cri.RemovePodSandboxResponse>;
  PodSandboxStatus(req: cri.PodSandboxStatusRequest__Output, ctx: CallContext): Promise<cri.PodSandboxStatusResponse>;
  ListPodSandbox(req: cri.ListPodSandboxRequest__Output, ctx: CallContext): Promise<cri.ListPodSandboxResponse>;
  CreateContainer(req: cri.CreateContainerRequest__Output, ctx: CallContext): Promise<cri.CreateContainerResponse>;
  StartContainer(req: cri.StartContainerRequest__Output, ctx: CallContext): Promise<cri.StartContainerResponse>;
  StopContainer(req: cri.StopContainerRequest__Output, ctx: CallContext): Promise<cri.StopContainerResponse>;
  RemoveContainer(req: cri.RemoveContainerRequest__Output, ctx: CallContext): Promise<cri.RemoveContainerResponse>;
  ListContainers(req: cri.ListContainersRequest__Output, ctx: CallContext): Promise<cri.ListContainersResponse>;
  ContainerStatus(req: cri.ContainerStatusRequest__Output, ctx: CallContext): Promise<cri.ContainerStatusResponse>;
  UpdateContainerResources(req: cri.UpdateContainerResourcesRequest__Output, ctx: CallContext): Promise<cri.UpdateContainerResourcesResponse>;
  ReopenContainerLog(req: cri.ReopenContainerLogRequest__Output, ctx: CallContext): Promise<cri.ReopenContainerLogResponse>;
  ExecSync(req: cri.ExecSyncRequest__Output, ctx: CallContext): Promise<cri.ExecSyncResponse>;
  Exec(req: cri.ExecRequest__Output, ctx: CallContext): Promise<cri.ExecResponse>;
  Attach(req: cri.AttachRequest__Output, ctx: CallContext): Promise<cri.AttachResponse>;
  PortForward(req: cri.PortForwardRequest__Output, ctx: CallContext): Promise<cri.PortForwardResponse>;
  ContainerStats(req: cri.ContainerStatsRequest__Output, ctx: CallContext): Promise<cri.ContainerStatsResponse>;
  ListContainerStats(req: cri.ListContainerStatsRequest__Output, ctx: CallContext): Promise<cri.ListContainerStatsResponse>;
  PodSandboxStats(req: cri.PodSandboxStatsRequest__Output, ctx: CallContext): Promise<cri.PodSandboxStatsResponse>;
  ListPodSandboxStats(req: cri.ListPodSandboxStatsRequest__Output, ctx: CallContext): Promise<cri.ListPodSandboxStatsResponse>;
  UpdateRuntimeConfig(req: cri.UpdateRuntimeConfigRequest__Output, ctx: CallContext): Promise<cri.UpdateRuntimeConfigResponse>;
  Status(req: cri.StatusRequest__Output, ctx: CallContext): Promise<cri.StatusResponse>;
  CheckpointContainer(req: cri.CheckpointContainerRequest__Output, ctx: CallContext): Promise<cri.CheckpointContainerResponse>;
  GetContainerEvents(req: cri.GetEventsRequest__Output, sink: ServerStreamSink<cri.ContainerEventResponse>, ctx: CallContext): Promise<void>;
  ListMetricDescriptors(req: cri.ListMetricDescriptorsRequest__Output, ctx: CallContext): Promise<cri.ListMetricDescriptorsResponse>;
  ListPodSandboxMetrics(req: cri.ListPodSandboxMetricsRequest__Output, ctx: CallContext): Promise<cri.ListPodSandboxMetricsResponse>;
  RuntimeConfig(req: cri.RuntimeConfigRequest__Output, ctx: CallContext): Promise<cri.RuntimeConfigResponse>;
}

export interface ImageServiceImpl {
  ListImages(req: cri.ListImagesRequest__Output, ctx: CallContext): Promise<cri.ListImagesResponse>;
  ImageStatus(req: cri.ImageStatusRequest__Output, ctx: CallContext): Promise<cri.ImageStatusResponse>;
  PullImage(req: cri.PullImageRequest__Output, ctx: CallContext): Promise<cri.PullImageResponse>;
  RemoveImage(req: cri.RemoveImageRequest__Output, ctx: CallContext): Promise<cri.RemoveImageResponse>;
  ImageFsInfo(req: cri.ImageFsInfoRequest__Output, ctx: CallContext): Promise<cri.ImageFsInfoResponse>;
}

/** What startCriServer accepts: any subset of the methods (the rest answer UNIMPLEMENTED). */
export type PartialRuntimeService = Partial<RuntimeServiceImpl>;
export type PartialImageService = Partial<ImageServiceImpl>;
