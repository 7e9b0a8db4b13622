// Runs pipeline scenarios in one JVM (JVM start-ups are the slow part on a shared machine).
// Usage: groovy test/groovy/run-scenarios.groovy scenarios.json results.json
//   scenarios.json: [{ name, jenkinsfile (text), params, repo, resources, vars, agentEnv,
//                      credentials: {id: {username, password} | {secret}}, inputs: [...], causes }]
//   results.json:   [{ name, result, error, description, log, calls, clock }]
import groovy.json.JsonSlurper

File here = new File(getClass().protectionDomain.codeSource.location.path).parentFile
File root = here.parentFile.parentFile
GroovyClassLoader loader = new GroovyClassLoader(getClass().classLoader)
for (String stub in ['Library', 'NonCPS', 'FlowInterruptedException', 'AbortException', 'PipelineScript']) {
    loader.parseClass(new File(here, "stubs/${stub}.groovy"))
}
// The sandbox and CPS checks (test/groovy/sandbox/): every script the harness compiles goes through them.
Class sandbox = loader.parseClass(new File(here, 'sandbox/Sandbox.groovy'))
loader.parseClass(new File(here, 'sandbox/SandboxCustomizer.groovy'))
sandbox.load(new File(here, 'sandbox'))
Class harnessClass = loader.parseClass(new File(here, 'JenkinsHarness.groovy'))

List scenarios = new JsonSlurper().parse(new File(args[0]))
List results = []
File base = File.createTempFile('jenkins-harness-', '')
base.delete()
base.mkdirs()
try {
    scenarios.eachWithIndex { Map scenario, int i ->
        File work = new File(base, "s${i}")
        work.mkdirs()
        def harness = harnessClass.newInstance(scenario, root, work, loader)
        Map result = harness.runJenkinsfile(scenario.jenkinsfile)
        result.name = scenario.name
        result.work = work.path
        results << result
    }
    new File(args[1]).text = harnessClass.toJson(results)
} finally {
    if (!System.getenv('HARNESS_KEEP')) {
        base.deleteDir()
    }
}
