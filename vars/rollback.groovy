// Jenkins steps for the date-based fleet rollback. Each step gathers its arguments, runs the
// bundled worker (resources/rollback.js) with node on the agent in ONE `sh`, and returns its answer.
// The bundle is written once per agent workspace and version; its text is never kept in a variable.
// Arguments reach the worker only as environment variables (ROLLBACK_PARAMS, one JSON object);
// the shell scripts below are constants, so nothing a user typed is ever parsed by a shell.
// Documentation for users: vars/rollback.txt (Pipeline Syntax > Global Variable Reference).
import groovy.json.JsonOutput

/** rollback(env: 'prod', date: optional): get, ask (unless a date is given), run. */
def call(Map args = [:]) {
    requireEnv(args)
    Map picked = null
    if (args.date) {
        // Automation: no question, but the catalog must still be fresh, so get and run on one agent.
        onAgent(args) {
            choices(args)
            run(args)
        }
        return [date: args.date, approver: args.approver]
    }
    List dates = []
    Map previews = [:]
    List serviceList = []
    Map pointLabels = [:]
    int count = (args.count ?: 3) as int
    // One worker run before the question: get writes the previews of the newest dates too.
    onAgent(args) {
        dates = choices(args + [previews: count])
        previews = plans(args + [dates: dates, count: count])
        serviceList = services(args)
        pointLabels = labels(args)
    }
    // Asked outside any node: no executor waits while a person decides.
    picked = select(args + [choices: dates, plans: previews, services: serviceList, labels: pointLabels])
    if (picked == null) {
        // null, not an empty map: "nobody chose in time" must not look like an answer.
        // groovylint-disable-next-line ReturnsNullInsteadOfEmptyCollection
        return null
    }
    onAgent(args) {
        run(args + picked)
    }
    return picked
}

/**
 * Runs `get`: returns the rollback points (YYYY-MM-DD, newest first) and stashes the catalog. With
 * previews: N the same run writes the plans of the newest N dates, which rollback.plans then reads.
 */
List choices(Map args = [:]) {
    requireEnv(args)
    int count = (args.previews ?: 0) as int
    Map result = worker('get', args, [previews: count > 0 ? count : null, points: args.points])
    failOn('get', result)
    List dates = []
    for (String line in result.out.readLines()) {
        if (line.trim()) {
            dates << line.trim()
        }
    }
    String includes = "${CATALOG},${SERVICES},${POINT_LABELS}"
    for (int i = 0; i < count && i < dates.size(); i++) {
        includes += ",${previewFile(dates[i])}"
    }
    stash(name: CATALOG_STASH, includes: includes)
    if (dates.isEmpty()) {
        error("rollback: the registry has no image for environment '${args.env}', " +
              'so there is no rollback point to choose.')
    }
    echo("rollback: ${dates.size()} rollback point(s) for ${args.env}: ${dates.join(', ')}")
    return dates
}

/** Runs `plan` for one date: prints the plan table into the log and returns it. */
String plan(Map args = [:]) {
    requireEnv(args)
    requireDate(args)
    unstash(CATALOG_STASH)
    Map result = worker('plan', args, pointOf(args.date) + [only: listText(args.only), except: listText(args.except)])
    failOn('plan', result)
    echo(result.out)
    return result.out
}

/**
 * The plans of the newest `count` dates (default 3), as [date: table], for select's description: read
 * from what rollback.choices(previews: N) wrote; a date without one is planned by the worker here.
 */
Map plans(Map args = [:]) {
    requireEnv(args)
    Map previews = [:]
    List dates = args.dates ?: []
    int count = (args.count ?: 3) as int
    // Previews left in this workspace by an earlier build must not pass for this build's.
    dir(PREVIEWS) {
        deleteDir()
    }
    unstash(CATALOG_STASH)
    for (int i = 0; i < count && i < dates.size(); i++) {
        String file = previewFile(dates[i])
        if (fileExists(file)) {
            previews[dates[i]] = readFile(file: file, encoding: 'UTF-8')
            continue
        }
        Map result = worker('plan', args, pointOf(dates[i]))
        // A preview is only a help for the person choosing; run plans again and fails loudly.
        previews[dates[i]] = result.code == 0 ? result.out : "(no preview: ${sentenceOf(result)})"
    }
    return previews
}

/**
 * The services of the environment, as rollback.choices left them in the workspace (inside node, after
 * choices): [[name: 'api', hold: false], ...], for select's checkboxes. hold: true is the config's.
 */
List services(Map args = [:]) {
    requireEnv(args)
    if (!fileExists(SERVICES)) {
        unstash(CATALOG_STASH)
    }
    List found = []
    if (!fileExists(SERVICES)) {
        return found
    }
    for (String line in readFile(file: SERVICES, encoding: 'UTF-8').readLines()) {
        List parts = line.tokenize(' ')
        if (parts) {
            found << [name: parts[0], hold: parts.size() > 1 && parts[1] == 'hold']
        }
    }
    return found
}

/**
 * The release points' labels, as get --points released wrote them beside the catalog (inside node, after
 * choices): [time: '2026-11-25T14:02:11Z  orders 105, inventory 303, web 404 (Jenkins #412)'], for
 * select's labels:. Empty for build days.
 */
Map labels(Map args = [:]) {
    requireEnv(args)
    if (!fileExists(CATALOG)) {
        unstash(CATALOG_STASH)
    }
    Map found = [:]
    if (!fileExists(POINT_LABELS)) {
        return found
    }
    for (String line in readFile(file: POINT_LABELS, encoding: 'UTF-8').readLines()) {
        // Each label starts with its point's time and two spaces (src/points/merge.ts pointLabel).
        int gap = line.indexOf(' ')
        if (gap > 0) {
            found[line.substring(0, gap)] = line.trim()
        }
    }
    return found
}

/**
 * Asks which date with `input`, outside any node; with services: a checkbox per service in the same
 * question. With labels: (rollback.labels) a release point is shown as its label, and the answer is mapped
 * back to its time. Returns [date:, approver:] (plus held:, and except: or only: when a service is held
 * back), or null on timeout.
 */
Map select(Map args = [:]) {
    List dates = args.choices ?: []
    if (dates.isEmpty()) {
        error('rollback.select: choices is empty; pass the list rollback.choices returned.')
    }
    int seconds = (args.timeout ?: 600) as int
    Map pointLabels = args.labels ?: [:]
    List shown = []
    boolean released = false
    for (String date in dates) {
        if (pointLabels[date]) {
            released = true
        }
        shown << (pointLabels[date] ?: date)
    }
    String what = released ? 'which release point' : 'the images of which date'
    Map question = [
        message: "Roll ${args.env ?: 'the fleet'} back to ${what}?",
        ok: 'Roll back',
        submitterParameter: 'approver',
        parameters: [choice(name: 'DATE', choices: shown, description: describePlans(dates, args.plans ?: [:], released) +
            (args.services ? '\nA service whose box below is unchecked is held back: it keeps what it runs.\n' : ''))] +
            serviceBoxes(args),
    ]
    if (args.submitter) {
        question.submitter = args.submitter
    }
    // Jenkins reports a timeout and a person's abort with the same exception; its causes need
    // script approval, so the build's own clock tells them apart: currentBuild.duration is
    // whitelisted and, while the build runs, is the time since it started (workflow-support
    // RunWrapper.getDuration: https://github.com/jenkinsci/workflow-support-plugin).
    long askedAt = currentBuild.duration
    def answer = null
    try {
        timeout(time: seconds, unit: 'SECONDS') {
            answer = input(question)
        }
    } catch (org.jenkinsci.plugins.workflow.steps.FlowInterruptedException interrupted) {
        // A second of tolerance: the timeout step and the build's clock are not the same clock.
        if (currentBuild.duration - askedAt >= seconds * 1000L - CLOCK_TOLERANCE_MS) {
            echo("rollback: no rollback point was chosen within ${seconds} seconds; nothing was changed.")
            // groovylint-disable-next-line ReturnsNullInsteadOfEmptyCollection
            return null
        }
        throw interrupted
    }
    Map picked = [date: pointOfChoice(answer.DATE, dates, shown), approver: answer.approver]
    return args.services ? picked + chosenServices(args.services, answer) : picked
}

/** Runs `run`: unstashes the catalog and rolls the fleet back to args.date. */
def run(Map args) {
    requireEnv(args)
    requireDate(args)
    unstash(CATALOG_STASH)
    Map given = pointOf(args.date) + [dryRun: args.dryRun == true, approver: args.approver ?: startedBy(),
                 only: listText(args.only), except: listText(args.except)]
    String before = latestPointer(args.env)
    Map result = worker('run', args, given)
    // Kept before failOn: the snapshot of a failed or partly done run is the one an operator needs.
    keepSnapshot(args, before, 'run')
    failOn('run', result)
    return args.date
}

/**
 * Runs `undo`: puts back what the last run (or undo) of args.env replaced, from the snapshot it left in
 * this workspace (or args.snapshot). Returns the path of the undo's own snapshot, or null when nothing changed.
 */
String undo(Map args) {
    requireEnv(args)
    String snapshot = args.snapshot ?: "${STATE_DIR}/runs/${args.env}-latest.json"
    // Without a snapshot here the worker may still undo from the target's own history (the docker
    // target keeps one); when it cannot, its sentence is completed with where this step looked.
    boolean here = fileExists(snapshot)
    Map given = [snapshot: args.snapshot, dryRun: args.dryRun == true, approver: args.approver ?: startedBy()]
    String before = latestPointer(args.env)
    Map result = worker('undo', args, given)
    String kept = keepSnapshot(args, before, 'undo')
    if (result.code == 2 && !here) {
        // Typed String first: String + GString is whitelisted, GString + GString needs script approval.
        String looked = "rollback undo: there is no snapshot of ${args.env} in this workspace (${snapshot} on ${env.NODE_NAME}) "
        error(looked + "and the worker could not undo without one (${sentenceOf(result)}); undo must run on the agent and in " +
              'the workspace where rollback.run ran, or that snapshot must be put there first.')
    }
    failOn('undo', result)
    return kept
}

/**
 * Runs `record` (a deploy pipeline's last step): appends what every service of args.env runs now,
 * pinned by digest, to the ledger when it changed. Returns the record's time (YYYY-MM-DDTHH:MM:SSZ).
 */
String record(Map args = [:]) {
    requireEnv(args)
    Map result = worker('record', args, [:])
    failOn('record', result)
    String time = result.out.trim()
    echo("rollback: release point of ${args.env}: ${time}")
    return time
}

// ---- helpers (private: not steps) ----

/** Where get writes the catalog, relative to the workspace (the worker's default). */
@groovy.transform.Field
final String CATALOG = '.rollback/catalog.json'
@groovy.transform.Field
final String CATALOG_STASH = 'rollback-catalog'
/** The worker's state directory (the catalog's folder): snapshots in runs/, locks in locks/. */
@groovy.transform.Field
final String STATE_DIR = '.rollback'
/** Where get writes the services for the question's checkboxes, "<name>" or "<name> hold" per line. */
@groovy.transform.Field
final String SERVICES = '.rollback/services.txt'
/** Where get --previews writes one plan table per date (src/cli/previews.ts). */
@groovy.transform.Field
final String PREVIEWS = '.rollback/previews'
/** Where get --points released writes each point's label, one a line (src/cli/commands/points.ts). */
@groovy.transform.Field
final String POINT_LABELS = '.rollback/points.txt'
@groovy.transform.Field
final long CLOCK_TOLERANCE_MS = 1000L

// The one constant script: values arrive in the environment. A bundle written by this build is
// moved into place first (a writeFile cut short never passes for the bundle). No node: exit 127.
// The worker refuses an old Node itself. Its stderr goes to the log and, through tee, to a file,
// so a failure can be reported with the worker's own sentence.
@groovy.transform.Field
final String WORKER_SCRIPT = '''set +ex
if [ -f "$ROLLBACK_WORKER.part" ]; then mv -f "$ROLLBACK_WORKER.part" "$ROLLBACK_WORKER" || exit 1; fi
command -v node >/dev/null 2>&1 || exit 127
{ node "$ROLLBACK_WORKER" "$ROLLBACK_COMMAND" 2>&1 >"$ROLLBACK_OUT"; echo $? >"$ROLLBACK_RC"; } |
    tee "$ROLLBACK_ERR" >&2
exit "$(cat "$ROLLBACK_RC")"'''
@groovy.transform.Field
final int NO_NODE = 127

private void onAgent(Map args, Closure body) {
    String label = args.label ?: ''
    node(label) {
        if (args.checkout != false) {
            // rollback.yml lives with the job's Jenkinsfile; the whole-flow step fetches it on each agent.
            checkout(scm)
        }
        body()
    }
}

private Map worker(String command, Map args, Map extra) {
    String dir = "${pwd(tmp: true)}/rollback"
    String bundle = installWorker(dir)
    Map given = [config: args.config ?: 'rollback.yml', env: args.env] + extra
    Map params = [:]
    for (String key in given.keySet()) {
        if (given[key] != null) {
            params[key] = given[key]
        }
    }
    List vars = [
        "ROLLBACK_PARAMS=${JsonOutput.toJson(params)}",
        "ROLLBACK_COMMAND=${command}",
        "ROLLBACK_WORKER=${bundle}",
        "ROLLBACK_OUT=${dir}/out",
        "ROLLBACK_ERR=${dir}/err",
        "ROLLBACK_RC=${dir}/rc",
    ]
    List bindings = credentialBindings(args)
    int code = 0
    withEnv(vars) {
        withCredentials(bindings) {
            code = sh(script: WORKER_SCRIPT, returnStatus: true, label: "rollback ${command}")
        }
    }
    if (code == NO_NODE) {
        error('rollback: this agent has no Node.js on its PATH; ' +
              'the rollback worker needs Node.js 20.18.1 or newer on every agent that runs it.')
    }
    String out = readFile(file: "${dir}/out", encoding: 'UTF-8')
    String err = readFile(file: "${dir}/err", encoding: 'UTF-8')
    Map result = [code: code, out: out, err: err]
    // The worker's own first check (src/node-check.ts): an old Node is the agent's fault, not bad input.
    String said = sentenceOf(result)
    if (code == 2 && said.startsWith('this agent has Node.js')) {
        error("rollback: ${said}")
    }
    return result
}

/**
 * The path of the bundle in this agent's temporary folder, written there only when this version is
 * not there yet. Its text goes straight from libraryResource to writeFile: no variable holds it, so
 * no CPS save point ever writes it into the build's program state.
 */
private String installWorker(String dir) {
    String version = libraryResource(resource: 'rollback.version', encoding: 'UTF-8').trim()
    String path = "${dir}/rollback-${version}.js"
    if (!fileExists(path)) {
        // UTF-8 both ways: the agent's platform default may differ, and the worker's messages are UTF-8.
        writeFile(file: "${path}.part", text: libraryResource(resource: 'rollback.js', encoding: 'UTF-8'), encoding: 'UTF-8')
    }
    return path
}

private List credentialBindings(Map args) {
    List bindings = []
    if (args.registryCredentialsId) {
        bindings << usernamePassword(credentialsId: args.registryCredentialsId,
                                     usernameVariable: 'REGISTRY_USER', passwordVariable: 'REGISTRY_PASSWORD')
    }
    if (args.targetCredentialsId) {
        bindings << usernamePassword(credentialsId: args.targetCredentialsId,
                                     usernameVariable: 'TARGET_USER', passwordVariable: 'TARGET_PASSWORD')
    }
    if (args.slackCredentialsId) {
        bindings << string(credentialsId: args.slackCredentialsId, variable: 'SLACK_WEBHOOK')
    }
    if (args.kubeconfigCredentialsId) {
        // A Secret file: Jenkins writes it under the workspace's @tmp and removes it after the block.
        bindings << file(credentialsId: args.kubeconfigCredentialsId, variable: 'KUBECONFIG')
    }
    if (args.dockerConfigCredentialsId) {
        // A Secret file holding a docker config.json: the worker reads it as $DOCKER_CONFIG/config.json.
        bindings << file(credentialsId: args.dockerConfigCredentialsId, variable: 'ROLLBACK_DOCKER_CONFIG_FILE')
    }
    if (args.githubCredentialsId) {
        bindings << string(credentialsId: args.githubCredentialsId, variable: 'GITHUB_TOKEN')
    }
    if (args.sshCredentialsId) {
        // "SSH Username with private key": a temporary key file (ssh:// Docker hosts' identityFile) and its user.
        bindings << sshUserPrivateKey(credentialsId: args.sshCredentialsId,
                                      keyFileVariable: 'SSH_KEY_FILE', usernameVariable: 'SSH_USER')
    }
    List extra = args.credentials ?: []
    for (int i = 0; i < extra.size(); i++) {
        bindings << bindingOf(extra[i], "credentials[${i}]")
    }
    return bindings
}

/** One entry of `credentials: [[id:, type:, variable:]]` as a withCredentials binding. */
private Object bindingOf(Object entry, String where) {
    // groovylint-disable-next-line Instanceof
    if (!(entry instanceof Map) || !entry.id) {
        error("rollback: ${where} needs id: (a Jenkins credential id), " +
              "e.g. [id: 'vault', type: 'string', variable: 'VAULT_TOKEN'].")
    }
    switch (entry.type) {
        case 'string':
            return string(credentialsId: entry.id, variable: variableName(entry.variable, "${where}.variable"))
        case 'file':
            return file(credentialsId: entry.id, variable: variableName(entry.variable, "${where}.variable"))
        case 'usernamePassword':
            return usernamePassword(credentialsId: entry.id,
                                    usernameVariable: variableName(entry.usernameVariable, "${where}.usernameVariable"),
                                    passwordVariable: variableName(entry.passwordVariable, "${where}.passwordVariable"))
        default:
            error("rollback: ${where} (id '${entry.id}') has type '${entry.type}'; " +
                  "use 'string', 'file' or 'usernamePassword'.")
    }
}

private String variableName(Object name, String where) {
    String text = name == null ? '' : name.toString()
    // Only names a shell and rollback.yml's ${VAR} can read, and never one of the steps' own ROLLBACK_* variables.
    if (!text.matches('[A-Za-z_][A-Za-z0-9_]*') || text.startsWith('ROLLBACK_')) {
        String what = "rollback: ${where} must be an environment variable name such as VAULT_TOKEN "
        error(what + "(letters, digits, _; not ROLLBACK_*), not '${text}'.")
    }
    return text
}

/** The text of the environment's latest-snapshot pointer in this workspace, or '' when there is none. */
private String latestPointer(String environment) {
    String pointer = "${STATE_DIR}/runs/${environment}-latest.json"
    return fileExists(pointer) ? readFile(file: pointer, encoding: 'UTF-8') : ''
}

/**
 * When the worker wrote a new snapshot (the pointer changed), says where it is and archives it with the
 * build, so what the run replaced is on record even if this agent goes away. Returns its path, or null.
 */
private String keepSnapshot(Map args, String before, String command) {
    String after = latestPointer(args.env)
    String key = '"snapshot":"'
    int start = after.indexOf(key)
    if (after == before || start < 0) {
        return null
    }
    String name = after.substring(start + key.length(), after.indexOf('"', start + key.length()))
    String runs = "${STATE_DIR}/runs"
    String snapshot = "${runs}/${name}"
    String where = "rollback: the snapshot of this ${command} is ${snapshot} in the workspace on ${env.NODE_NAME}; "
    echo(where + "rollback.undo(env: '${args.env}') there puts back what it replaced.")
    if (args.archive != false) {
        try {
            archiveArtifacts(artifacts: "${snapshot},${runs}/${args.env}-latest.json", fingerprint: false)
        } catch (InterruptedException stopped) {
            throw stopped
        // groovylint-disable-next-line CatchException
        } catch (Exception notArchived) {
            // The rollback's own outcome (above all a PARTLY DONE) matters more than its record: say it, go on.
            echo("rollback: WARNING: the snapshot could not be archived (${notArchived.message}); " +
                 'it is still in the workspace.')
        }
    }
    return snapshot
}

private void failOn(String command, Map result) {
    String sentence = sentenceOf(result)
    switch (result.code) {
        case 0:
            return
        case 2:
            error("rollback ${command}: bad input: ${sentence}")
            break
        case 1:
            if (command == 'run') {
                error("rollback FAILED, the fleet is unchanged or was put back: ${sentence}")
            }
            if (command == 'undo') {
                error("rollback undo FAILED, the fleet is as it was before the undo: ${sentence}")
            }
            error("rollback ${command} failed: ${sentence}")
            break
        case 3:
            error("rollback PARTLY DONE: some services changed and could not be put back; check them now: ${sentence}")
            break
        default:
            error("rollback ${command}: the worker stopped with exit code ${result.code}: ${sentence}")
    }
}

/** The worker's own one-sentence reason: its last 'rollback: ...' line on stderr. */
private String sentenceOf(Map result) {
    String said = ''
    String lastLine = ''
    for (String line in result.err.readLines()) {
        if (line.startsWith('rollback: ')) {
            said = line.substring('rollback: '.length()).trim()
        } else if (line.trim()) {
            lastLine = line.trim()
        }
    }
    return said ?: (lastLine ?: "no message (exit code ${result.code})")
}

/** Where get --previews wrote the plan of one date, relative to the workspace. */
private String previewFile(String date) {
    return "${PREVIEWS}/${date}.txt"
}

/** One checkbox per service: checked goes back; a service with hold: true starts unchecked. */
private List serviceBoxes(Map args) {
    List boxes = []
    for (Object entry in (args.services ?: [])) {
        Map s = serviceOf(entry)
        if (s.name == 'DATE' || s.name == 'approver') {
            error("rollback.select: a service named '${s.name}' cannot have a checkbox beside the question's own ${s.name}.")
        }
        boolean checked = args.only ? listOf(args.only).contains(s.name) : !s.hold && !listOf(args.except).contains(s.name)
        String why = s.hold ? 'hold: true in rollback.yml: stays as it is unless checked.' :
            'Goes back with the others; uncheck it to hold it back (it keeps what it runs).'
        boxes << booleanParam(name: s.name, defaultValue: checked, description: why)
    }
    return boxes
}

/**
 * What the checkboxes say, in the worker's terms: unchecked ordinary services -> except: them (the config
 * still holds its own); a checked hold: true service -> only: the checked ones. held: every unchecked one.
 */
private Map chosenServices(List entries, Map answer) {
    List checked = []
    List held = []
    List except = []
    boolean holdChecked = false
    for (Object entry in entries) {
        Map s = serviceOf(entry)
        if (answer[s.name]) {
            checked << s.name
            holdChecked = holdChecked || s.hold
        } else {
            held << s.name
            if (!s.hold) {
                except << s.name
            }
        }
    }
    if (checked.isEmpty()) {
        error('rollback: no service was checked in the question, so nothing would go back; nothing was changed.')
    }
    // Both keys, always: the answer replaces whatever only:/except: the call began with.
    if (holdChecked) {
        return [held: held, only: checked, except: null]
    }
    return [held: held, only: null, except: except ?: null]
}

/** A services entry: [name:, hold:] as rollback.services returns, or just the name. */
private Map serviceOf(Object entry) {
    // groovylint-disable-next-line Instanceof
    return entry instanceof Map ? [name: entry.name as String, hold: entry.hold == true] : [name: entry as String, hold: false]
}

/** only:/except: as a list, from a list or a comma-separated string. */
private List listOf(Object value) {
    // groovylint-disable-next-line Instanceof
    return value == null ? [] : (value instanceof List ? value : value.toString().tokenize(','))
}

/** only:/except: as the worker reads them ("a,b"), or null when not given. */
private String listText(Object value) {
    // groovylint-disable-next-line Instanceof
    return value == null ? null : (value instanceof List ? value.join(',') : value.toString())
}

private String describePlans(List dates, Map previews, boolean released) {
    String text = released ? "Each point puts every service back to the image it ran at that moment, pinned by digest.\n" :
        "Each date puts every service back to its newest image built on or before that day.\n"
    for (String date in dates) {
        if (previews[date]) {
            text += "\n${date}:\n${previews[date]}\n"
        }
    }
    return text
}

/** The point (date or time) a choice of the question stands for: a label is mapped back to its time. */
private String pointOfChoice(Object answer, List dates, List shown) {
    for (int i = 0; i < shown.size(); i++) {
        if (shown[i] == answer) {
            return dates[i]
        }
    }
    return answer
}

/** Who started the build, as the approver when no one was asked (a DATE given by automation). */
private String startedBy() {
    for (def cause in currentBuild.getBuildCauses('hudson.model.Cause$UserIdCause')) {
        if (cause.userId) {
            return cause.userId
        }
    }
    return null
}

/** A day goes to the worker as date:, a release point's time (YYYY-MM-DDTHH:MM:SSZ) as at:. */
private Map pointOf(Object point) {
    String text = point.toString()
    return text.indexOf('T') >= 0 ? [at: text] : [date: text]
}

private void requireEnv(Map args) {
    if (!args.env) {
        error("rollback: say which environment, e.g. rollback(env: 'prod').")
    }
}

private void requireDate(Map args) {
    if (!args.date) {
        error("rollback: say which rollback point, e.g. date: '2026-11-19'.")
    }
}
