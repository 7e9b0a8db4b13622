// Stand-in for the exception Jenkins throws when input is aborted or a timeout step fires
// (workflow-step-api: it extends InterruptedException and carries its causes, which the steps
// under test must not read: reading them needs script approval in the sandbox).
package org.jenkinsci.plugins.workflow.steps

class FlowInterruptedException extends InterruptedException {
    final String why

    /** The message is the causes' descriptions joined, as Jenkins reports them ("Rejected by alice", "Timeout has been exceeded"). */
    FlowInterruptedException(String why, String... causes) {
        super(causes.join(', '))
        this.why = why
    }
}
