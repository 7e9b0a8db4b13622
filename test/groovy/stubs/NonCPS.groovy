// Stand-in for workflow-cps's @NonCPS (com.cloudbees.groovy.cps.NonCPS), which Jenkins imports into
// every pipeline script: a method so marked runs as plain Groovy and must not call steps.
package com.cloudbees.groovy.cps

import java.lang.annotation.Retention
import java.lang.annotation.RetentionPolicy
import java.lang.annotation.Target
import java.lang.annotation.ElementType

@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.METHOD)
@interface NonCPS {
}
