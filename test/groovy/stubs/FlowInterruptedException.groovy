// Stand-in for the exception Jenkins throws when input is aborted or a timeout step fires
// (workflow-step-api: it extends InterruptedException and carries its causes, which the steps
// under test must not read: reading them needs script approval in the sandbox).
package org.jenkinsci.plugins.workflow.steps

class FlowInterruptedException extends InterruptedException {
    final String why

    FlowInterruptedException(String why) {
        super()
        this.why = why
    }
}
