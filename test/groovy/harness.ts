/**
 * Drives the Groovy pipeline harness (test/groovy/run-scenarios.groovy) from jest: one JVM runs
 * every scenario of a suite, because JVM start-ups are the slow part on a shared machine.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ROOT = join(__dirname, '..', '..');

export interface Scenario {
  name: string;
  /** Jenkinsfile text (declarative or scripted). */
  jenkinsfile: string;
  /** The file name its call sites are reported under (default 'Jenkinsfile'). */
  jenkinsfileName?: string;
  /** Directory of the vars/ scripts (default: vars/): a changed copy of a step, for the unsafe-change tests. */
  vars?: string;
  params?: Record<string, unknown>;
  /** Directory `checkout scm` copies into each workspace (holds rollback.yml). */
  repo?: string;
  /** Directory libraryResource reads (default: resources/). */
  resources?: string;
  /** The agent's environment on top of this process's (PATH, STUB_*). */
  agentEnv?: Record<string, string>;
  /** Jenkins credentials by id: usernamePassword, Secret text ({ secret }), Secret file ({ content, fileName }) or SSH key ({ username, privateKey }). */
  credentials?: Record<string, { username: string; password: string } | { secret: string } | { content: string; fileName?: string } | { username: string; privateKey: string }>;
  /** Labels that name one fixed agent (label -> agent name): its workspace is kept under agentsDir. '' maps `agent any` (a node without a label). */
  agents?: Record<string, string>;
  /** Where fixed agents live; share it between scenarios to model later builds on the same agent. */
  agentsDir?: string;
  /** archiveArtifacts fails with this message (a full artifact store). */
  archiveFails?: string;
  /** Scripted answers to `input`: { DATE, user } (and a service's checkbox: true/false), 'timeout' (or 'timeout-early': the build clock half a second short) or 'abort'. */
  inputs?: Array<Record<string, string | boolean> | 'timeout' | 'timeout-early' | 'abort'>;
  causes?: Array<Record<string, string>>;
  /** Jenkins groups of each user, for `submitter` matching. */
  groups?: Record<string, string[]>;
}

export interface StepCall {
  step: string;
  node: string | null;
  [key: string]: unknown;
}

export interface ShCall extends StepCall {
  script: string;
  env: Record<string, string>;
  exit: number;
  returnStdout: boolean;
  returnStatus: boolean;
  /** The wall clock (epoch ms) when the script started and ended. */
  startedAt?: number;
  endedAt?: number;
}

/** A call the sandbox would reject ('sandbox') or CPS could not run ('cps'), with its place. */
export interface Violation {
  kind: 'sandbox' | 'cps';
  file: string;
  line: number;
  text: string;
  message: string;
}

/** A rewritten call site (test/groovy/sandbox/SandboxCustomizer.groovy) and whether this scenario checked it. */
export interface Site {
  file: string;
  line: number;
  kind: string;
  text: string;
  reached: boolean;
}

export interface ScenarioResult {
  name: string;
  sandbox: { violations: Violation[]; used: string[]; sites: Site[] };
  result: 'SUCCESS' | 'FAILURE' | 'ABORTED';
  error: string | null;
  description: string | null;
  log: string;
  calls: StepCall[];
  clock: number;
  /** The wall clock (epoch ms) when the harness began running this scenario (JVM started, harness compiled). `input` calls carry theirs as `at`. */
  startedAt?: number;
}

export function javaHome(): string {
  if (process.env.JAVA_HOME) return process.env.JAVA_HOME;
  for (const j of ['/usr/lib/jvm/java-17-openjdk-amd64', '/usr/lib/jvm/default-java']) {
    if (existsSync(join(j, 'bin', 'java'))) return j;
  }
  return '';
}

/**
 * Runs the scenarios on real Groovy; throws with Groovy's output when the harness itself breaks.
 * Asynchronous, so doubles served from this process (Marathon, Slack) answer while Groovy runs.
 */
export async function runScenarios(scenarios: Scenario[]): Promise<Map<string, ScenarioResult>> {
  const dir = mkdtempSync(join(tmpdir(), 'jenkins-scenarios-'));
  try {
    const input = join(dir, 'scenarios.json');
    const output = join(dir, 'results.json');
    writeFileSync(input, JSON.stringify(scenarios));
    const child = spawn('groovy', [join(ROOT, 'test', 'groovy', 'run-scenarios.groovy'), input, output], {
      env: { ...process.env, JAVA_HOME: javaHome() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let said = '';
    child.stdout.on('data', (d) => (said += d));
    child.stderr.on('data', (d) => (said += d));
    // A bound on a hung harness, far above a normal run; not a speed assertion.
    const killer = setTimeout(() => child.kill('SIGKILL'), 240_000);
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    clearTimeout(killer);
    if (code !== 0 || !existsSync(output)) {
      throw new Error(`groovy harness failed (exit ${code}):\n${said}`);
    }
    const text = readFileSync(output, 'utf8');
    // For a person debugging a scenario: JENKINS_HARNESS_RESULTS=/tmp/results.json keeps every log and call.
    if (process.env.JENKINS_HARNESS_RESULTS) writeFileSync(process.env.JENKINS_HARNESS_RESULTS, text);
    const results = JSON.parse(text) as ScenarioResult[];
    return new Map(results.map((r) => [r.name, r]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const shCalls = (r: ScenarioResult) => r.calls.filter((c): c is ShCall => c.step === 'sh');
export const workerCalls = (r: ScenarioResult) => shCalls(r).filter((c) => c.env.ROLLBACK_COMMAND !== undefined);
export const stepsNamed = (r: ScenarioResult, step: string) => r.calls.filter((c) => c.step === step);
