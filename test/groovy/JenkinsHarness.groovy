// A small Jenkins on real Groovy 2.4: runs vars/rollback.groovy and a declarative Jenkinsfile with
// the pipeline steps they use, recording every step call. `sh` really runs bash with the step's
// environment; files, workspaces and stashes are real directories; `input` answers from a script.
// It is not Jenkins: no CPS, no sandbox. It checks what the steps ask Jenkins to do.
import groovy.json.JsonOutput
import hudson.AbortException
import org.codehaus.groovy.control.CompilerConfiguration
import org.codehaus.groovy.control.customizers.ImportCustomizer
import org.jenkinsci.plugins.workflow.steps.FlowInterruptedException

class JenkinsHarness {
    /** Every step and Declarative word the harness provides: what a script may call by name. */
    static final List<String> STEPS = ['pipeline', 'script', 'echo', 'error', 'sh', 'node', 'checkout', 'pwd', 'writeFile', 'readFile',
        'libraryResource', 'stash', 'unstash', 'withEnv', 'withCredentials', 'usernamePassword', 'string', 'file', 'sshUserPrivateKey', 'fileExists',
        'archiveArtifacts', 'choice', 'timeout', 'input', 'dir', 'deleteDir', 'lock',
        'agent', 'label', 'parameters', 'booleanParam', 'options', 'disableConcurrentBuilds', 'buildDiscarder', 'logRotator',
        'stages', 'stage', 'when', 'beforeAgent', 'expression', 'steps', 'post', 'always', 'success', 'failure', 'aborted',
        'unsuccessful', 'cleanup']
    /** Steps at which CPS may save the program (they wait on an agent, a person or a block). */
    static final List<String> SUSPENDING = ['sh', 'node', 'checkout', 'writeFile', 'readFile', 'libraryResource', 'stash', 'unstash',
        'withEnv', 'withCredentials', 'fileExists', 'archiveArtifacts', 'timeout', 'input', 'dir', 'deleteDir', 'lock']
    final Map scenario
    final File root
    final File work
    final GroovyClassLoader loader
    final List<Map> calls = []
    final StringBuilder log = new StringBuilder()
    /** The build's clock in milliseconds since it started; only `input` (waiting) moves it. */
    long clock = 0
    Map params = [:]
    final Map<String, String> globalEnv = [:]
    final List<Map<String, String>> overlays = []
    Map agent = null
    int agents = 0
    final List<Long> deadlines = []
    final List inputs
    final Map<String, Object> vars = [:]
    final CurrentBuild currentBuild
    Binding binding

    JenkinsHarness(Map scenario, File root, File work, GroovyClassLoader loader) {
        this.scenario = scenario
        this.root = root
        this.work = work
        this.loader = loader
        this.inputs = new ArrayList(scenario.inputs ?: [])
        this.currentBuild = new CurrentBuild(this)
        globalEnv.putAll([JOB_NAME: 'Rollback', BUILD_NUMBER: '7', BUILD_URL: 'http://jenkins.invalid/job/Rollback/7/'])
    }

    // ---------- running ----------

    Map runJenkinsfile(String text) {
        long startedAt = System.currentTimeMillis()
        Sandbox.reset()
        Sandbox.steps = STEPS as Set
        Sandbox.suspending = SUSPENDING as Set
        binding = new Binding()
        binding.setVariable('__harness', this)
        binding.setVariable('env', new EnvProxy(this))
        binding.setVariable('currentBuild', currentBuild)
        binding.setVariable('scm', [kind: 'scm'])
        binding.setVariable('params', params)
        File varsDir = new File(scenario.vars ?: new File(root, 'vars').path)
        varsDir.eachFileMatch(~/.*\.groovy/) { File f ->
            Sandbox.globals << (f.name - '.groovy')
        }
        varsDir.eachFileMatch(~/.*\.groovy/) { File f ->
            Script s = shell(f.name).parse(f.text, f.name)
            vars[f.name - '.groovy'] = s
            binding.setVariable(f.name - '.groovy', s)
        }
        String error = null
        try {
            String name = scenario.jenkinsfileName ?: 'Jenkinsfile'
            shell(name).parse(text, name).run()
        } catch (FlowInterruptedException e) {
            currentBuild.result = 'ABORTED'
            error = e.why
        } catch (Throwable e) {
            currentBuild.result = 'FAILURE'
            error = describe(e)
        }
        return [
            result: currentBuild.result ?: 'SUCCESS',
            error: error,
            description: currentBuild.description,
            log: log.toString(),
            calls: calls,
            clock: clock,
            startedAt: startedAt,
            sandbox: Sandbox.report(),
        ]
    }

    /** Compiles a script as Jenkins does (NonCPS imported), rewritten for the sandbox and CPS checks. */
    private GroovyShell shell(String name) {
        CompilerConfiguration cc = new CompilerConfiguration()
        cc.scriptBaseClass = 'PipelineScript'
        cc.addCompilationCustomizers(new ImportCustomizer().addImports('org.jenkinsci.plugins.workflow.libs.Library', 'com.cloudbees.groovy.cps.NonCPS'))
        cc.addCompilationCustomizers(new SandboxCustomizer(name))
        return new GroovyShell(loader, binding, cc)
    }

    static String describe(Throwable e) {
        if (e instanceof AbortException) {
            return e.message
        }
        return "${e.getClass().name}: ${e.message}"
    }

    // ---------- steps ----------

    Object step(String name, Object[] rawArgs) {
        List args = rawArgs as List
        Closure body = args && args.last() instanceof Closure ? args.last() : null
        List plain = body ? args.subList(0, args.size() - 1) : args
        if (vars.containsKey(name)) {
            return vars[name].invokeMethod('call', plain as Object[])
        }
        Map named = plain && plain[0] instanceof Map ? plain[0] : [:]
        Object first = plain ? plain[0] : null
        switch (name) {
            case 'pipeline': return new Declarative(this).run(body)
            case 'script': return body()
            case 'echo':
                record('echo', [message: String.valueOf(first)])
                logLine(String.valueOf(first))
                return null
            case 'error':
                record('error', [message: String.valueOf(first)])
                throw new AbortException(String.valueOf(first))
            case 'sh': return sh(first instanceof Map ? named : [script: first])
            case 'node': return node(first instanceof String ? first : named.label, body)
            case 'checkout': return checkout()
            case 'pwd':
                needAgent('pwd')
                record('pwd', named)
                return named.tmp ? agent.tmp.path : agent.cwd.path
            case 'writeFile':
                needAgent('writeFile')
                File out = file(named.file)
                out.parentFile.mkdirs()
                out.setText(named.text, named.encoding ?: 'UTF-8')
                record('writeFile', [file: named.file, length: named.text.length(), encoding: named.encoding])
                return null
            case 'readFile':
                needAgent('readFile')
                String path = first instanceof Map ? named.file : first
                record('readFile', [file: path])
                File f = file(path)
                if (!f.exists()) {
                    throw new java.nio.file.NoSuchFileException(f.path)
                }
                return f.getText(named.encoding ?: 'UTF-8')
            case 'libraryResource':
                String resource = first instanceof Map ? named.resource : first
                record('libraryResource', [resource: resource, encoding: named.encoding])
                File found = new File(scenario.resources ?: new File(root, 'resources').path, resource)
                if (named.encoding == 'Base64') {
                    return found.bytes.encodeBase64().toString()
                }
                // Without encoding: the controller's platform default, which need not be UTF-8 (Latin-1 here, so it shows).
                return found.getText(named.encoding ?: 'ISO-8859-1')
            case 'stash': return stash(named)
            case 'unstash': return unstash(first instanceof Map ? named.name : first)
            case 'withEnv': return withEnv(first as List, body)
            case 'withCredentials': return withCredentials(first as List, body)
            case 'usernamePassword': return [type: 'usernamePassword'] + named
            case 'string': return [type: 'string'] + named
            case 'file': return [type: 'file'] + named
            case 'sshUserPrivateKey': return [type: 'sshUserPrivateKey'] + named
            case 'fileExists':
                needAgent('fileExists')
                String asked = first instanceof Map ? named.file : first
                boolean exists = file(asked).exists()
                record('fileExists', [file: asked, exists: exists])
                return exists
            case 'archiveArtifacts': return archiveArtifacts(first instanceof Map ? named : [artifacts: first])
            case 'choice': return [type: 'choice'] + named
            case 'booleanParam': return [type: 'booleanParam'] + named
            case 'timeout': return timeout(named, body)
            case 'input': return input(named)
            case 'dir': return inDir(first instanceof Map ? named.path : first, body)
            case 'deleteDir':
                needAgent('deleteDir')
                record('deleteDir', [dir: agent.cwd.path])
                agent.cwd.deleteDir()
                return null
            case 'lock':
                record('lock', [resource: first instanceof Map ? named.resource : first, node: agent?.name])
                return body()
            default:
                throw new MissingMethodException(name, PipelineScript, rawArgs)
        }
    }

    void record(String step, Map args) {
        calls << ([step: step, node: agent?.name] + args)
    }

    void logLine(String text) {
        log.append(text)
        if (!text.endsWith('\n')) {
            log.append('\n')
        }
    }

    private void needAgent(String step) {
        if (agent == null) {
            // What Jenkins says when a step needing a workspace runs outside `node`.
            throw new IllegalStateException("Required context class hudson.FilePath is missing (${step} outside node)")
        }
    }

    private File file(String path) {
        File f = new File(path)
        return f.absolute ? f : new File(agent.cwd, path)
    }

    /** `dir(path) { }`: steps inside see path (relative to the current directory) as their directory. */
    private Object inDir(String path, Closure body) {
        needAgent('dir')
        File before = agent.cwd
        agent.cwd = file(path)
        record('dir', [path: path])
        try {
            return body()
        } finally {
            agent.cwd = before
        }
    }

    Map<String, String> effectiveEnv() {
        Map<String, String> env = [:]
        env.putAll(System.getenv())
        env.putAll(globalEnv)
        env.putAll((scenario.agentEnv ?: [:]) as Map<String, String>)
        if (agent) {
            env.WORKSPACE = agent.workspace.path
            env.NODE_NAME = agent.name
        }
        for (Map<String, String> o in overlays) {
            env.putAll(o)
        }
        Map<String, String> strings = [:]
        env.each { k, v -> if (v != null) { strings[k.toString()] = v.toString() } }
        return strings
    }

    private Object sh(Map a) {
        needAgent('sh')
        String script = a.script
        Map<String, String> given = [:]
        for (Map<String, String> o in overlays) {
            given.putAll(o)
        }
        agent.tmp.mkdirs()
        File scriptFile = File.createTempFile('script', '.sh', agent.tmp)
        scriptFile.text = script
        // As Jenkins' sh step does: /bin/sh -xe (dash on Debian agents; scripts/ensure-test-env.sh installs it).
        // startedAt/endedAt: the wall clock (epoch ms) around the script, for the bench's breakdown of a build.
        long startedAt = System.currentTimeMillis()
        ProcessBuilder pb = new ProcessBuilder(['/bin/sh', '-xe', scriptFile.path])
        pb.directory(agent.cwd)
        pb.environment().clear()
        pb.environment().putAll(effectiveEnv())
        Process p = pb.start()
        StringBuilder out = new StringBuilder()
        StringBuilder err = new StringBuilder()
        p.waitForProcessOutput(out, err)
        int exit = p.exitValue()
        long endedAt = System.currentTimeMillis()
        scriptFile.delete()
        calls << [step: 'sh', node: agent.name, script: script, returnStdout: a.returnStdout == true,
                  returnStatus: a.returnStatus == true, label: a.label, env: given, exit: exit, cwd: agent.cwd.path,
                  startedAt: startedAt, endedAt: endedAt]
        if (!a.returnStdout) {
            logLine(out.toString())
        }
        logLine(err.toString())
        if (a.returnStatus) {
            return exit
        }
        if (exit != 0) {
            throw new AbortException("script returned exit code ${exit}")
        }
        return a.returnStdout ? out.toString() : null
    }

    private Object node(String label, Closure body) {
        if (agent != null) {
            throw new IllegalStateException('node inside node: the harness gives each node block its own agent')
        }
        // A label the scenario maps to a named agent is that one machine, whose workspace outlives the
        // build (agentsDir may be shared by later scenarios); any other node block is a fresh agent.
        // The empty label ('agent any', node without a label) names a fixed agent only when the scenario maps '' itself.
        String fixed = (scenario.agents ?: [:])[label ?: '']
        String name = fixed ?: "agent-${++agents}"
        File home = new File(fixed ? new File(scenario.agentsDir ?: work.path) : work, name)
        agent = [name: name, label: label ?: '', workspace: new File(home, 'workspace/Rollback'), tmp: new File(home, 'workspace/Rollback@tmp')]
        agent.cwd = agent.workspace
        agent.workspace.mkdirs()
        record('node', [label: label ?: ''])
        try {
            return body()
        } finally {
            agent = null
        }
    }

    Object checkout() {
        needAgent('checkout')
        record('checkout', [:])
        if (scenario.repo) {
            copyTree(new File(scenario.repo), agent.workspace)
        }
        return null
    }

    private static void copyTree(File from, File to) {
        from.eachFileRecurse(groovy.io.FileType.FILES) { File f ->
            File dst = new File(to, from.toPath().relativize(f.toPath()).toString())
            dst.parentFile.mkdirs()
            dst.bytes = f.bytes
        }
    }

    private Object stash(Map a) {
        needAgent('stash')
        File dir = new File(work, "stashes/${a.name}")
        dir.deleteDir()
        dir.mkdirs()
        int copied = 0
        for (String include in a.includes.tokenize(',')) {
            File src = file(include.trim())
            if (src.isFile()) {
                File dst = new File(dir, include.trim())
                dst.parentFile.mkdirs()
                dst.bytes = src.bytes
                copied++
            }
        }
        record('stash', [name: a.name, includes: a.includes, files: copied])
        if (copied == 0) {
            throw new AbortException("No files included in stash \u2018${a.name}\u2019")
        }
        return null
    }

    private Object unstash(String name) {
        needAgent('unstash')
        record('unstash', [name: name])
        File dir = new File(work, "stashes/${name}")
        if (!dir.isDirectory()) {
            throw new AbortException("No such saved stash \u2018${name}\u2019")
        }
        copyTree(dir, agent.cwd)
        return null
    }

    private Object withEnv(List pairs, Closure body) {
        Map<String, String> o = [:]
        for (Object pair in pairs) {
            String s = String.valueOf(pair)
            int eq = s.indexOf('=')
            o[s.substring(0, eq)] = s.substring(eq + 1)
        }
        record('withEnv', [vars: o])
        return withOverlay(o, body)
    }

    /** Environment variables visible to steps inside body only, as withEnv and withCredentials bind them. */
    private Object withOverlay(Map<String, String> o, Closure body) {
        overlays << o
        try {
            return body()
        } finally {
            overlays.remove(overlays.size() - 1)
        }
    }

    /** A credential's file under the agent's @tmp, readable by its owner only, removed after the block. */
    private File secretFile(String type, String name, String content, List<File> secretFiles) {
        needAgent("withCredentials(${type})")
        File f = new File(agent.tmp, "secretFiles/${UUID.randomUUID()}/${name}")
        f.parentFile.mkdirs()
        f.text = content
        f.setReadable(false, false)
        f.setReadable(true, true)
        secretFiles << f.parentFile
        return f
    }

    private Object withCredentials(List bindings, Closure body) {
        Map<String, String> o = [:]
        Map store = scenario.credentials ?: [:]
        List<File> secretFiles = []
        try {
            for (Map b in bindings) {
                Map c = store[b.credentialsId]
                if (c == null) {
                    throw new AbortException("Could not find credentials entry with ID '${b.credentialsId}'")
                }
                if (b.type == 'usernamePassword') {
                    o[b.usernameVariable] = c.username
                    o[b.passwordVariable] = c.password
                } else if (b.type == 'sshUserPrivateKey') {
                    // As the SSH Credentials plugin binds it: the key in a file, the user in a variable.
                    if (c.privateKey == null) {
                        throw new AbortException("Credentials '${b.credentialsId}' is not an 'SSH Username with private key' credential")
                    }
                    o[b.keyFileVariable] = secretFile('sshUserPrivateKey', 'ssh-key', c.privateKey, secretFiles).path
                    if (b.usernameVariable) {
                        o[b.usernameVariable] = c.username
                    }
                } else if (b.type == 'file') {
                    // As the Credentials Binding plugin does: a file under the workspace's @tmp, removed after the block.
                    if (c.content == null) {
                        throw new AbortException("Credentials '${b.credentialsId}' is of type 'Secret text' where 'Secret file' was expected")
                    }
                    o[b.variable] = secretFile('file', c.fileName ?: 'secret', c.content, secretFiles).path
                } else {
                    if (c.secret == null) {
                        throw new AbortException("Credentials '${b.credentialsId}' is of type 'Secret file' where 'Secret text' was expected")
                    }
                    o[b.variable] = c.secret
                }
            }
            record('withCredentials', [bindings: bindings, files: secretFiles.collect { it.path }])
            return withOverlay(o, body)
        } finally {
            secretFiles.each { File d -> d.deleteDir() }
        }
    }

    /** Copies the listed workspace files (comma-separated paths; no globs) into the build's archive. */
    private Object archiveArtifacts(Map a) {
        needAgent('archiveArtifacts')
        List<String> paths = a.artifacts.tokenize(',')*.trim()
        List<String> found = paths.findAll { String p -> file(p).isFile() }
        record('archiveArtifacts', [artifacts: a.artifacts, files: found])
        if (scenario.archiveFails) {
            // What a full or unwritable artifact store on the controller looks like to the step.
            throw new IOException(scenario.archiveFails)
        }
        // Jenkins fails the step only when no pattern matched anything.
        if (found.isEmpty() && !a.allowEmptyArchive) {
            throw new AbortException("No artifacts found that match the file pattern \"${a.artifacts}\"")
        }
        for (String p in found) {
            File dst = new File(work, "archive/${p}")
            dst.parentFile.mkdirs()
            dst.bytes = file(p).bytes
        }
        return null
    }

    private Object timeout(Map a, Closure body) {
        long factor = [SECONDS: 1000L, MINUTES: 60000L, HOURS: 3600000L, MILLISECONDS: 1L][a.unit ?: 'MINUTES']
        long limit = (a.time as long) * factor
        record('timeout', [time: a.time, unit: a.unit ?: 'MINUTES'])
        deadlines << clock + limit
        try {
            return body()
        } finally {
            deadlines.remove(deadlines.size() - 1)
        }
    }

    private Object input(Map a) {
        List parameters = a.parameters ?: []
        // at: the wall clock (epoch ms) when the question is asked: the bench times "Build" -> dropdown with it.
        calls << [step: 'input', node: agent?.name, message: a.message, ok: a.ok, submitter: a.submitter,
                  submitterParameter: a.submitterParameter, parameters: parameters, at: System.currentTimeMillis()]
        if (inputs.isEmpty()) {
            throw new IllegalStateException('input asked, but the scenario scripted no answer')
        }
        Object answer = inputs.remove(0)
        if (answer == 'timeout' || answer == 'timeout-early') {
            if (deadlines.isEmpty()) {
                throw new IllegalStateException('input would wait forever: no timeout around it')
            }
            // 'timeout-early': the build's clock reads half a second short when the timeout fires (a clock step).
            clock = deadlines.last() - (answer == 'timeout-early' ? 500 : 0)
            logLine('Timeout has been exceeded')
            throw new FlowInterruptedException('timeout', 'Timeout has been exceeded')
        }
        if (answer == 'abort') {
            clock += 5000
            logLine('Rejected by alice')
            throw new FlowInterruptedException('aborted by a user', 'Rejected by alice')
        }
        clock += 5000
        Map values = [:]
        for (Map p in parameters) {
            if (values.containsKey(p.name) || p.name == a.submitterParameter) {
                throw new IllegalStateException("input: two parameters named '${p.name}'")
            }
            Object value = answer[p.name]
            if (p.type == 'choice' && !(value in (p.choices as List))) {
                throw new IllegalStateException("input: '${value}' is not one of the choices ${p.choices}")
            }
            if (p.type == 'booleanParam') {
                // A checkbox the person leaves alone answers its default; Jenkins returns a Boolean either way.
                if (value == null) {
                    value = p.defaultValue == true
                }
                if (!(value instanceof Boolean)) {
                    throw new IllegalStateException("input: the checkbox '${p.name}' answers true or false, not '${value}'")
                }
            }
            values[p.name] = value
        }
        for (Object key in answer.keySet()) {
            if (key != 'user' && !parameters.any { it.name == key }) {
                throw new IllegalStateException("input: the scenario answers '${key}', which the question does not ask")
            }
        }
        if (a.submitter) {
            // As the input step: comma-separated users or groups, trimmed, compared case-insensitively.
            List<String> allowed = a.submitter.tokenize(',')*.trim()*.toLowerCase()
            List<String> who = [answer.user] + ((scenario.groups ?: [:])[answer.user] ?: [])
            if (!who.any { String w -> w.toLowerCase() in allowed }) {
                throw new IllegalStateException("input: ${answer.user} may not submit (submitter: ${a.submitter})")
            }
        }
        if (a.submitterParameter) {
            values[a.submitterParameter] = answer.user
        }
        logLine("Approved by ${answer.user}")
        return values.size() == 1 ? values.values().first() : values
    }

    static String toJson(Object o) {
        return JsonOutput.prettyPrint(JsonOutput.toJson(o))
    }
}

/** `currentBuild`: the whitelisted RunWrapper properties the steps and the Jenkinsfile use. */
class CurrentBuild {
    final JenkinsHarness harness
    String description
    String result
    String displayName

    CurrentBuild(JenkinsHarness harness) {
        this.harness = harness
    }

    long getDuration() {
        return harness.clock
    }

    String getCurrentResult() {
        return result ?: 'SUCCESS'
    }

    List getBuildCauses(String type) {
        List causes = harness.scenario.causes ?: []
        return causes.findAll { it._class == type }
    }
}

/** `env`: reads see withEnv/withCredentials bindings, as in Jenkins; writes set build-wide variables. */
class EnvProxy {
    final JenkinsHarness harness

    EnvProxy(JenkinsHarness harness) {
        this.harness = harness
    }

    Object getProperty(String name) {
        return harness.effectiveEnv()[name]
    }

    /** As EnvActionImpl.setProperty: null removes the variable. */
    void setProperty(String name, Object value) {
        if (value == null) {
            harness.globalEnv.remove(name)
        } else {
            harness.globalEnv[name] = String.valueOf(value)
        }
    }
}

/** Interprets `pipeline { ... }` far enough for Jenkinsfile.example. */
class Declarative {
    final JenkinsHarness harness

    Declarative(JenkinsHarness harness) {
        this.harness = harness
    }

    Object run(Closure pipeline) {
        PipelineDsl p = new PipelineDsl()
        dsl(pipeline, p)
        Map defaults = [:]
        for (Map param in p.parameters) {
            defaults[param.name] = param.type == 'choice' ? param.choices[0] : param.defaultValue
        }
        Map given = harness.scenario.params ?: [:]
        Map values = defaults + given
        for (Map param in p.parameters) {
            if (param.type == 'string' && param.trim && values[param.name] != null) {
                values[param.name] = values[param.name].toString().trim()
            }
        }
        harness.params.putAll(values)
        harness.calls << [step: 'pipeline', parameters: p.parameters, options: p.options]
        Throwable failure = null
        for (StageDsl stage in p.stages) {
            if (failure != null) {
                harness.calls << [step: 'stage', name: stage.name, ran: false, why: 'earlier failure']
                continue
            }
            if (stage.conditions && !stage.conditions.every { Closure c -> c() }) {
                harness.logLine("Stage \"${stage.name}\" skipped due to when conditional")
                harness.calls << [step: 'stage', name: stage.name, ran: false, why: 'when']
                continue
            }
            harness.calls << [step: 'stage', name: stage.name, ran: true]
            Map agentSpec = stage.agentSpec ?: p.agentSpec ?: [kind: 'none']
            try {
                if (agentSpec.kind == 'none') {
                    stage.body()
                } else {
                    harness.step('node', [agentSpec.label ?: '', {
                        harness.checkout()
                        stage.body()
                    }] as Object[])
                }
            } catch (Throwable e) {
                failure = e
                harness.currentBuild.result = e instanceof FlowInterruptedException ? 'ABORTED' : 'FAILURE'
                harness.logLine("ERROR: ${JenkinsHarness.describe(e)}")
            }
        }
        String result = harness.currentBuild.currentResult
        for (String condition in ['always', result == 'SUCCESS' ? 'success' : null, result == 'FAILURE' ? 'failure' : null,
                                  result == 'ABORTED' ? 'aborted' : null, result != 'SUCCESS' ? 'unsuccessful' : null, 'cleanup']) {
            if (condition && p.post[condition]) {
                p.post[condition]()
            }
        }
        if (failure != null) {
            throw failure
        }
        return null
    }

    static void dsl(Closure c, Object delegate) {
        c.resolveStrategy = Closure.DELEGATE_FIRST
        c.delegate = delegate
        c()
    }
}

class AgentMarkers {
    Map getAny() { [kind: 'any'] }

    Map getNone() { [kind: 'none'] }

    protected static Map agentOf(Object spec) {
        if (spec instanceof Closure) {
            AgentDsl a = new AgentDsl()
            Declarative.dsl(spec, a)
            return [kind: 'label', label: a.label]
        }
        return spec as Map
    }
}

class AgentDsl {
    String label

    void label(String l) { label = l }
}

class PipelineDsl extends AgentMarkers {
    Map agentSpec
    List<Map> parameters = []
    List<String> options = []
    List<StageDsl> stages = []
    Map<String, Closure> post = [:]

    void agent(Object spec) { agentSpec = agentOf(spec) }

    void parameters(Closure c) { Declarative.dsl(c, new ParametersDsl(list: parameters)) }

    void options(Closure c) { Declarative.dsl(c, new OptionsDsl(list: options)) }

    void stages(Closure c) { Declarative.dsl(c, new StagesDsl(list: stages)) }

    void post(Closure c) { Declarative.dsl(c, new PostDsl(blocks: post)) }
}

class ParametersDsl {
    List<Map> list

    void choice(Map m) { list << ([type: 'choice'] + m) }

    void string(Map m) { list << ([type: 'string'] + m) }

    void booleanParam(Map m) { list << ([type: 'booleanParam'] + m) }
}

class OptionsDsl {
    List<String> list

    Object methodMissing(String name, Object args) {
        list << name
        return [option: name]
    }
}

class StagesDsl {
    List<StageDsl> list

    void stage(String name, Closure c) {
        StageDsl s = new StageDsl(name: name)
        Declarative.dsl(c, s)
        list << s
    }
}

class StageDsl extends AgentMarkers {
    String name
    Map agentSpec
    List<Closure> conditions = []
    Closure body

    void agent(Object spec) { agentSpec = agentOf(spec) }

    void when(Closure c) { Declarative.dsl(c, new WhenDsl(conditions: conditions)) }

    void steps(Closure c) { body = c }
}

class WhenDsl {
    List<Closure> conditions

    void beforeAgent(boolean ignored) { }

    void expression(Closure c) { conditions << c }
}

class PostDsl {
    Map<String, Closure> blocks

    void always(Closure c) { blocks.always = c }

    void success(Closure c) { blocks.success = c }

    void failure(Closure c) { blocks.failure = c }

    void aborted(Closure c) { blocks.aborted = c }

    void unsuccessful(Closure c) { blocks.unsuccessful = c }

    void cleanup(Closure c) { blocks.cleanup = c }
}
