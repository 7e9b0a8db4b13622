// Stand-in for hudson.AbortException, which the `error` step throws: the build fails with its message.
package hudson

class AbortException extends IOException {
    AbortException(String message) {
        super(message)
    }
}
