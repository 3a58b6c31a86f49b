/** Errors from CNI configuration and from plugins, carrying what the plugin said. */
import { BerthError } from '../../runtime/errors';

/** Well-known CNI error codes (SPEC.md section 5, "Error"). */
export const CNI_ERROR_CODES: Readonly<Record<number, string>> = {
  1: 'Incompatible CNI version',
  2: 'Unsupported field in network configuration',
  3: 'Container unknown or does not exist',
  4: 'Invalid necessary environment variables',
  5: 'I/O failure',
  6: 'Failed to decode content',
  7: 'Invalid network config',
  11: 'Try again later',
  50: 'The plugin is not available',
  51: 'The plugin is not available, and existing containers in the network may have limited connectivity',
};

/** A network configuration that cannot be used: names the file and the JSON path of the fault. */
export class CniConfigError extends BerthError {
  readonly file: string;
  readonly path: string;
  constructor(file: string, jsonPath: string, message: string) {
    super('FAILED_PRECONDITION', `CNI config ${file || '<built-in default>'}${jsonPath ? ` ${jsonPath}` : ''}: ${message}`);
    this.file = file;
    this.path = jsonPath;
    this.name = 'CniConfigError';
  }
}

/** A plugin that failed: the error result it printed ({code, msg, details}) or, failing that, its output. */
export class CniPluginError extends BerthError {
  readonly plugin: string;
  readonly command: string;
  /** The CNI error code (0 when the plugin printed no error object). */
  readonly cniCode: number;
  readonly msg: string;
  readonly details: string;
  readonly stderr: string;
  constructor(plugin: string, command: string, cniCode: number, msg: string, details: string, stderr: string) {
    const known = CNI_ERROR_CODES[cniCode];
    const what = cniCode !== 0 ? `code ${cniCode}${known && known !== msg ? ` (${known})` : ''}: ` : '';
    const tail = details && details !== msg ? `: ${details}` : '';
    super(cniCode === 11 ? 'TIMEOUT' : 'INTERNAL', `CNI plugin ${plugin} ${command} failed: ${what}${msg}${tail}`);
    this.plugin = plugin;
    this.command = command;
    this.cniCode = cniCode;
    this.msg = msg;
    this.details = details;
    this.stderr = stderr;
    this.name = 'CniPluginError';
  }
}
