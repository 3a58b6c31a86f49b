/**
 * A fake CNI plugin for the CNI unit tests: one shell script, installed under several plugin names in
 * a temp CNI_PATH dir. Each call records its CNI_* environment and stdin; what it prints and its exit
 * status can be set per plugin and command.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { JsonObject } from '../../src/pod/cni/types';

const SCRIPT = `#!/bin/sh
dir=$(dirname "$0")
name=$(basename "$0")
log="$dir/../log"
ctl="$dir/../ctl/$name.$CNI_COMMAND"
n=$(cat "$log/count" 2>/dev/null || echo 0)
n=$((n + 1))
echo "$n" > "$log/count"
cat > "$log/$n.$name.$CNI_COMMAND.stdin"
env | grep '^CNI_' | sort > "$log/$n.$name.$CNI_COMMAND.env"
if [ -f "$ctl.stderr" ]; then cat "$ctl.stderr" >&2; fi
if [ -f "$ctl.out" ]; then
  cat "$ctl.out"
  if [ -f "$ctl.rc" ]; then exit "$(cat "$ctl.rc")"; fi
  exit 0
fi
if [ -f "$ctl.rc" ]; then exit "$(cat "$ctl.rc")"; fi
case "$CNI_COMMAND" in
VERSION) echo '{"cniVersion":"1.0.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0"]}' ;;
ADD) printf '{"cniVersion":"1.0.0","by":"%s","interfaces":[{"name":"%s","sandbox":"%s"}],"ips":[{"address":"10.99.0.%s/24","interface":0}]}\\n' "$name" "$CNI_IFNAME" "$CNI_NETNS" "$n" ;;
esac
exit 0
`;

export interface FakeCall {
  n: number;
  plugin: string;
  command: string;
  env: Record<string, string>;
  stdin: JsonObject | null;
  stdinText: string;
}

export class FakeCni {
  readonly root: string;
  readonly binDir: string;
  readonly confDir: string;
  readonly cacheDir: string;
  private readonly logDir: string;
  private readonly ctlDir: string;

  constructor(plugins: string[]) {
    this.root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-cni-'));
    this.binDir = path.join(this.root, 'bin');
    this.confDir = path.join(this.root, 'net.d');
    this.cacheDir = path.join(this.root, 'results');
    this.logDir = path.join(this.root, 'log');
    this.ctlDir = path.join(this.root, 'ctl');
    for (const d of [this.binDir, this.confDir, this.logDir, this.ctlDir]) fs.mkdirSync(d, { recursive: true });
    for (const p of plugins) this.addPlugin(p);
  }

  addPlugin(name: string): void {
    fs.writeFileSync(path.join(this.binDir, name), SCRIPT, { mode: 0o755 });
  }

  /** What `plugin` prints for `command` (JSON object or raw text), its exit status and its stderr. */
  setOutput(plugin: string, command: string, out: JsonObject | string, rc = 0, stderr = ''): void {
    const base = path.join(this.ctlDir, `${plugin}.${command}`);
    fs.writeFileSync(`${base}.out`, typeof out === 'string' ? out : JSON.stringify(out));
    fs.writeFileSync(`${base}.rc`, String(rc));
    if (stderr) fs.writeFileSync(`${base}.stderr`, stderr);
  }

  writeConfig(file: string, conf: unknown): void {
    fs.writeFileSync(path.join(this.confDir, file), typeof conf === 'string' ? conf : JSON.stringify(conf));
  }

  /** Every recorded call, in order. */
  calls(): FakeCall[] {
    const out: FakeCall[] = [];
    for (const f of fs.readdirSync(this.logDir)) {
      const m = /^(\d+)\.(.+)\.([A-Z]+)\.stdin$/.exec(f);
      if (!m) continue;
      const stdinText = fs.readFileSync(path.join(this.logDir, f), 'utf8');
      let stdin: JsonObject | null = null;
      try {
        stdin = JSON.parse(stdinText) as JsonObject;
      } catch {
        stdin = null;
      }
      const envText = fs.readFileSync(path.join(this.logDir, `${m[1]}.${m[2]}.${m[3]}.env`), 'utf8');
      const env: Record<string, string> = {};
      for (const line of envText.split('\n')) {
        const eq = line.indexOf('=');
        if (eq > 0) env[line.slice(0, eq)] = line.slice(eq + 1);
      }
      out.push({ n: Number(m[1]), plugin: m[2], command: m[3], env, stdin, stdinText });
    }
    return out.sort((a, b) => a.n - b.n);
  }

  /** Calls other than VERSION probes. */
  attachCalls(): FakeCall[] {
    return this.calls().filter((c) => c.command !== 'VERSION');
  }

  clearLog(): void {
    fs.rmSync(this.logDir, { recursive: true, force: true });
    fs.mkdirSync(this.logDir);
  }

  cleanup(): void {
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}
