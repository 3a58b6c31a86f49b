/**
 * CNI data types (containernetworking/cni SPEC.md, spec versions 0.3.0 to 1.1.0, and CONVENTIONS.md
 * for the capability arguments). Configuration objects keep every field they were given: plugins get
 * their configuration unchanged apart from the fields the runtime inserts.
 */

export type Json = null | boolean | number | string | Json[] | JsonObject;
export interface JsonObject {
  [key: string]: Json;
}

/** One plugin configuration object of a network configuration ("plugins" list entry). */
export interface PluginConf extends JsonObject {
  /** The plugin binary's name, looked up in the CNI_PATH directories. */
  type: string;
}

/** A network configuration (a .conflist, or a single-plugin .conf turned into a list of one). */
export interface NetworkConfigList {
  cniVersion: string;
  cniVersions?: string[];
  name: string;
  disableCheck?: boolean;
  disableGC?: boolean;
  plugins: PluginConf[];
}

/** A loaded network: its configuration and where it came from. */
export interface LoadedNetwork {
  /** The file it was read from, or '' for the built-in default network. */
  source: string;
  config: NetworkConfigList;
}

/** CONVENTIONS.md "portMappings". */
export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp' | 'sctp';
  /** '' or absent: every host address. */
  hostIP?: string;
}

/** CONVENTIONS.md "bandwidth": rates in bits per second, bursts in bits. */
export interface BandwidthLimits {
  ingressRate?: number;
  ingressBurst?: number;
  egressRate?: number;
  egressBurst?: number;
}

/** CONVENTIONS.md "dns". */
export interface DnsCapability {
  servers?: string[];
  searches?: string[];
  options?: string[];
}

/**
 * Capability arguments offered by the runtime; each is put into a plugin's runtimeConfig only when
 * that plugin's configuration declares the capability ("capabilities": {"portMappings": true}).
 */
export interface CapabilityArgs {
  portMappings?: PortMapping[];
  bandwidth?: BandwidthLimits;
  dns?: DnsCapability;
  ips?: string[];
  mac?: string;
  cgroupPath?: string;
  [capability: string]: Json | PortMapping[] | BandwidthLimits | DnsCapability | undefined;
}

/** The per-attachment parameters (SPEC.md section 3, "Attachment Parameters"). */
export interface Attachment {
  /** CNI_CONTAINERID: the sandbox id. */
  containerId: string;
  /** CNI_NETNS: the network namespace file; '' on DEL when it is already gone. */
  netns: string;
  /** CNI_IFNAME. */
  ifName: string;
  /** CNI_ARGS as ordered key/value pairs ("K8S_POD_NAME=x;..."). */
  args: [string, string][];
  capabilityArgs: CapabilityArgs;
}

export interface CniInterface {
  name: string;
  mac?: string;
  mtu?: number;
  sandbox?: string;
  [key: string]: Json | undefined;
}

export interface CniIpConfig {
  address: string;
  gateway?: string;
  interface?: number;
  /** 0.3.x/0.4.0 results carry "4" or "6". */
  version?: string;
  [key: string]: Json | undefined;
}

export interface CniRoute {
  dst: string;
  gw?: string;
  [key: string]: Json | undefined;
}

export interface CniDns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

/** An ADD result (SPEC.md section 5), as the plugin printed it. */
export interface CniResult {
  cniVersion: string;
  interfaces?: CniInterface[];
  ips?: CniIpConfig[];
  routes?: CniRoute[];
  dns?: CniDns;
  [key: string]: Json | undefined | CniInterface[] | CniIpConfig[] | CniRoute[] | CniDns;
}
