// Base class of the Jenkinsfile and vars/ scripts in the harness: any method a script does not
// define is a pipeline step, handled (and recorded) by the harness.
abstract class PipelineScript extends Script {
    Object methodMissing(String name, Object args) {
        return binding.getVariable('__harness').step(name, args as Object[])
    }
}
