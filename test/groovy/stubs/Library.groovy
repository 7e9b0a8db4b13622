// Stand-in for Jenkins' @Library annotation, so `@Library('rollback') _` in Jenkinsfile.example compiles.
package org.jenkinsci.plugins.workflow.libs

import java.lang.annotation.Retention
import java.lang.annotation.RetentionPolicy

@Retention(RetentionPolicy.SOURCE)
@interface Library {
    String[] value()
}
