// The run-time half of the sandbox and CPS checks (SandboxCustomizer rewrites the calls into these).
// Sandbox: a call is permitted as script-security's SandboxInterceptor decides it (the Java method or
// GDK method Groovy would pick, then the whitelist: test/groovy/sandbox/whitelist, each entry naming the
// public file or source it comes from; plus workflow-cps's CpsWhitelist rules for env and the script).
// A call that would need approval throws, as Jenkins does, and is recorded with its file and line.
// CPS: at each step that suspends, the locals in scope are serialized as CPS saves them (a
// NotSerializableException there fails a real build); a closure handed to a non-CPS method and a
// @NonCPS method calling a step are recorded. Our own code, written from the plugins' public sources.
import java.lang.reflect.Constructor
import java.lang.reflect.Method
import java.lang.reflect.Modifier
import org.codehaus.groovy.runtime.DefaultGroovyMethods
import org.codehaus.groovy.runtime.InvokerHelper
import org.codehaus.groovy.runtime.StringGroovyMethods

class Sandbox {
    static final List<Map> sites = []
    static final List<Map> nonCps = []
    static final List<Map> violations = []
    static final Set<Integer> reached = [] as Set
    /** The whitelist entries the scenarios needed (so an entry no code uses can be removed). */
    static final Set<String> used = [] as Set
    /** With SANDBOX_COLLECT=1: what would have been rejected, instead of stopping at the first. */
    static final Set<String> needs = [] as Set
    static final Set<String> whitelist = [] as Set
    static final Set<String> blacklist = [] as Set
    /** Global variables (vars/ scripts) and the words of steps and the Declarative DSL the harness provides. */
    static final Set<String> globals = [] as Set
    static Set<String> steps = [] as Set
    static Set<String> suspending = [] as Set
    /** What Groovy's GDK adds, in the order script-security looks (SandboxInterceptor.DGM_CLASSES, then Groovy 2.4's String methods). */
    static final List<Class> GDK = [DefaultGroovyMethods, StringGroovyMethods]
    /** A CPS local larger than this is reported: the bundle (2 MB) must never be one. */
    static final int LARGEST_LOCAL = 100_000
    /** The harness's stand-ins for Jenkins objects, checked under the real class's name. */
    static final Map<String, String> SURROGATES = [
        EnvProxy: 'org.jenkinsci.plugins.workflow.cps.EnvActionImpl',
        CurrentBuild: 'org.jenkinsci.plugins.workflow.support.steps.build.RunWrapper',
    ]

    static void load(File dir) {
        for (String name in ['whitelist', 'blacklist']) {
            Set<String> into = name == 'whitelist' ? whitelist : blacklist
            new File(dir, name).eachLine { String line ->
                String entry = line.replaceFirst(/#.*$/, '').trim()
                if (entry) {
                    into << entry
                }
            }
        }
    }

    static void reset() {
        sites.clear()
        nonCps.clear()
        violations.clear()
        reached.clear()
        used.clear()
        needs.clear()
    }

    static String where(Map site) {
        return "${site.file}:${site.line}: ${site.text}"
    }

    static Map report() {
        return [
            violations: new ArrayList(violations),
            used: new ArrayList(used),
            needs: new ArrayList(needs),
            sites: sites.collect { Map s -> [file: s.file, line: s.line, kind: s.kind, text: s.text, reached: reached.contains(s.id)] },
        ]
    }

    // ---------- what the rewritten code calls ----------

    static boolean implicit(int id, String name, List names, List values) {
        reached << id
        Map site = sites[id]
        boolean own = site.own
        // CpsWhitelist: println, print and printf on the script are the echo step.
        if (!own && !steps.contains(name) && !globals.contains(name) && !(name in ['println', 'print', 'printf'])) {
            // Not a step, not a global variable, not the script's own method: a method of Script itself.
            permit(site, ["method groovy.lang.Script ${name}"], "method groovy.lang.Script ${name}")
        }
        if (!own && steps.contains(name) && nonCps.any { it.file == site.file && it.method == site.method }) {
            violate(site, 'cps', "CPS: @NonCPS method ${site.method}() calls the step ${name} (${where(site)}); steps cannot run inside @NonCPS methods.", false)
        }
        if (suspending.contains(name)) {
            save(site, name, names, values)
        }
        return true
    }

    static Object invoke(int id, Object receiver, String name, boolean safe, List args) {
        reached << id
        if (receiver == null && safe) {
            return null
        }
        Map site = sites[id]
        if (receiver != null) {
            if (args.any { it instanceof Closure } && !(receiver instanceof Script) && !(receiver instanceof Closure && name == 'call')) {
                // Recorded before the sandbox's verdict, so both are reported.
                violate(site, 'cps', "CPS: a closure is passed to ${realName(receiver.getClass())}.${name}(...), which is not CPS-transformed " +
                    "(${where(site)}); it runs outside CPS and may give wrong results: use a for loop.", false)
            }
            checkCall(site, receiver, name, args)
        }
        return InvokerHelper.invokeMethod(receiver, name, args as Object[])
    }

    static Object getProperty(int id, Object receiver, String name, boolean safe) {
        reached << id
        if (receiver == null) {
            return safe ? null : InvokerHelper.getProperty(receiver, name)
        }
        Map site = sites[id]
        Class c = receiver.getClass()
        if (receiver instanceof Script) {
            return InvokerHelper.getProperty(receiver, name)
        }
        if (receiver instanceof Map) {
            // groovy-sandbox's Checker turns a Map property into Map.get.
            permit(site, ['method java.util.Map get java.lang.Object'], "method java.util.Map get java.lang.Object (${c.name}.${name})")
        } else if (surrogate(c) == 'org.jenkinsci.plugins.workflow.cps.EnvActionImpl') {
            // workflow-cps CpsWhitelist: getProperty and setProperty of EnvActionImpl.
        } else if (receiver instanceof Class) {
            permit(site, ["staticField ${((Class) receiver).name} ${name}"], "staticField ${((Class) receiver).name} ${name}")
        } else {
            String getter = "get${name.capitalize()}"
            Method m = javaMethod(c, getter, []) ?: javaMethod(c, "is${name.capitalize()}", [])
            if (m != null) {
                permit(site, signatures(m, c), signatures(m, c)[0])
            } else {
                List<String> gdk = gdkMethods(receiver, getter, []).collect { staticSignature(it) }
                permit(site, gdk, gdk ? gdk[0] : "unclassified field ${c.name} ${name}")
            }
        }
        return InvokerHelper.getProperty(receiver, name)
    }

    static Object setProperty(int id, Object receiver, String name, Object value) {
        reached << id
        Map site = sites[id]
        Class c = receiver?.getClass()
        if (receiver instanceof Map) {
            permit(site, ['method java.util.Map put java.lang.Object java.lang.Object'], 'method java.util.Map put java.lang.Object java.lang.Object')
        } else if (receiver != null && !(receiver instanceof Script) && surrogate(c) != 'org.jenkinsci.plugins.workflow.cps.EnvActionImpl') {
            Method m = javaMethod(c, "set${name.capitalize()}", [value])
            List<String> ok = m ? signatures(m, c) : []
            permit(site, ok, ok ? ok[0] : "unclassified field ${c.name} ${name}")
        }
        InvokerHelper.setProperty(receiver, name, value)
        return value
    }

    static Object construct(int id, Class type, List args) {
        reached << id
        Map site = sites[id]
        Constructor k = type.constructors.find { Constructor c -> fits(c.parameterTypes as List, args) }
        String signature = k ? "new ${type.name}${types(k.parameterTypes as List)}" : "unclassified new ${type.name}"
        permit(site, k ? [signature] : [], signature)
        return InvokerHelper.invokeConstructorOf(type, args as Object[])
    }

    // ---------- the rules ----------

    /** Checks receiver.name(args) and returns the signature of the method it reaches (null: the script's own). */
    static String checkCall(Map site, Object receiver, String name, List args) {
        Class c = receiver.getClass()
        if (receiver instanceof Script) {
            // A global variable's script (vars/): its own methods (CpsWhitelist: CpsScript dispatch).
            return null
        }
        if (receiver instanceof Closure && name == 'call') {
            // Closure.call(Object...) (a local closure called as body()).
            permit(site, ['method groovy.lang.Closure call java.lang.Object[]'], 'method groovy.lang.Closure call java.lang.Object[]')
            return null
        }
        String real = surrogate(c)
        if (real == 'org.jenkinsci.plugins.workflow.cps.EnvActionImpl') {
            String signature = "method ${real} ${name}"
            if (!(name in ['getProperty', 'setProperty'])) {
                permit(site, [], signature)
            }
            return signature
        }
        if (receiver instanceof Class) {
            Method m = mostSpecific(((Class) receiver).methods.findAll { Method x -> x.name == name && Modifier.isStatic(x.modifiers) && fits(x.parameterTypes as List, args) }, args)
            String signature = m ? staticSignature(m) : "unclassified staticMethod ${((Class) receiver).name} ${name}"
            permit(site, m ? [signature] : [], signature)
            return signature
        }
        Method m = javaMethod(c, name, args)
        if (m != null) {
            List<String> ok = signatures(m, c)
            permit(site, ok, ok[0])
            return ok[0]
        }
        if (receiver instanceof Number || (receiver instanceof String && name == 'plus')) {
            // SandboxInterceptor: synthetic methods such as Integer.plus(Integer) and String.plus pass.
            return "synthetic ${c.name} ${name}"
        }
        List<String> gdk = gdkMethods(receiver, name, args).collect { staticSignature(it) }
        String signature = gdk ? gdk[0] : "unclassified method ${c.name} ${name}"
        permit(site, gdk, signature)
        return signature
    }

    static String surrogate(Class c) {
        return SURROGATES[c.name] ?: null
    }

    static boolean fits(List<Class> params, List args) {
        if (params.size() != args.size()) {
            return false
        }
        for (int i = 0; i < params.size(); i++) {
            Class p = params[i].primitive ? boxed(params[i]) : params[i]
            if (args[i] != null && !p.isInstance(args[i]) && !(args[i] instanceof GString && p == String)) {
                return false
            }
        }
        return true
    }

    static Class boxed(Class p) {
        return [(int): Integer, (long): Long, (boolean): Boolean, (double): Double, (char): Character, (float): Float, (short): Short, (byte): Byte][p]
    }

    /** The public Java method of c Groovy would call: the most specific that fits. */
    static Method javaMethod(Class c, String name, List args) {
        List<Method> found = c.methods.findAll { Method m -> m.name == name && !Modifier.isStatic(m.modifiers) && fits(m.parameterTypes as List, args) }
        return mostSpecific(found, args)
    }

    /**
     * The GDK methods for receiver.name(args): the most specific in each GDK class. Groovy 2.4 keeps deprecated
     * copies of String methods in DefaultGroovyMethods beside StringGroovyMethods; either whitelisted entry permits.
     */
    static List<Method> gdkMethods(Object receiver, String name, List args) {
        List self = [receiver] + args
        List<Method> found = []
        for (Class gdk in GDK) {
            Method m = mostSpecific(gdk.methods.findAll { Method x -> x.name == name && Modifier.isStatic(x.modifiers) && fits(x.parameterTypes as List, self) }, self)
            if (m != null) {
                found << m
            }
        }
        return found
    }

    /** The candidate whose parameters are closest to the arguments' classes (Object farthest), as Groovy prefers. */
    static Method mostSpecific(List<Method> found, List args) {
        if (found.isEmpty()) {
            return null
        }
        return found.min { Method m ->
            List<Class> params = m.parameterTypes as List
            int offset = params.size() - args.size()
            int total = 0
            for (int i = 0; i < args.size(); i++) {
                total += distance(args[i]?.getClass(), params[i + offset])
            }
            return total
        }
    }

    /** Steps from c up to p through superclasses and interfaces; Object (and no match) farthest. */
    static int distance(Class c, Class p) {
        if (c == null) {
            return 0
        }
        if (p == Object) {
            int depth = 1
            for (Class k = c.superclass; k != null && k != Object; k = k.superclass) {
                depth++
            }
            return c.interface ? 1 : depth
        }
        if (p.primitive) {
            p = boxed(p)
        }
        List<Class> level = [c]
        for (int d = 0; d < 30 && level; d++) {
            if (level.contains(p)) {
                return d
            }
            List<Class> next = []
            for (Class k in level) {
                if (k.superclass) {
                    next << k.superclass
                }
                next.addAll(k.interfaces)
            }
            level = next
        }
        return p == String && GString.isAssignableFrom(c) ? 5 : 999
    }

    static String types(List<Class> params) {
        return params.collect { " ${it.name.startsWith('[L') ? it.componentType.name + '[]' : it.name}" }.join('')
    }

    static String staticSignature(Method m) {
        return "staticMethod ${m.declaringClass.name} ${m.name}${types(m.parameterTypes as List)}"
    }

    static String realName(Class c) {
        return SURROGATES[c.name] ?: c.name
    }

    /** m's signature, and the same method's in every supertype that declares it (whitelisting an overridden method permits it). */
    static List<String> signatures(Method m, Class receiver) {
        List<String> all = ["method ${realName(m.declaringClass)} ${m.name}${types(m.parameterTypes as List)}".toString()]
        List<Class> supers = []
        collectSupers(receiver, supers)
        for (Class s in supers) {
            try {
                Method o = s.getMethod(m.name, m.parameterTypes)
                all << "method ${o.declaringClass.name} ${m.name}${types(m.parameterTypes as List)}".toString()
                all << "method ${s.name} ${m.name}${types(m.parameterTypes as List)}".toString()
            } catch (NoSuchMethodException ignored) {
                // not declared there
            }
        }
        return all.unique()
    }

    static void collectSupers(Class c, List<Class> into) {
        if (c == null || into.contains(c)) {
            return
        }
        into << c
        collectSupers(c.superclass, into)
        for (Class i in c.interfaces) {
            collectSupers(i, into)
        }
    }

    static void permit(Map site, List<String> candidates, String shown) {
        if (candidates.any { whitelist.contains(it.toString()) }) {
            used << candidates.find { whitelist.contains(it.toString()) }.toString()
            return
        }
        if (System.getenv('SANDBOX_COLLECT')) {
            // For a maintainer: list what the code needs instead of stopping at the first (SANDBOX_COLLECT=1).
            needs << shown.toString()
            return
        }
        String why = blacklist.contains(shown.toString()) ? ' (blacklisted: it can never be approved)' : ''
        violate(site, 'sandbox', "Scripts not permitted to use ${shown}${why} (${where(site)})", true)
    }

    static void violate(Map site, String kind, String message, boolean fatal) {
        violations << [kind: kind, file: site.file, line: site.line, text: site.text, message: message]
        if (fatal) {
            throw new SecurityException(message)
        }
    }

    // ---------- CPS ----------

    static void save(Map site, String step, List names, List values) {
        for (int i = 0; i < names.size(); i++) {
            Object value = values[i]
            String name = names[i]
            if (value instanceof CharSequence && value.length() > LARGEST_LOCAL) {
                violate(site, 'cps', "CPS: local '${name}' holds ${value.length()} characters when ${step} suspends (${where(site)}); " +
                    'every save point would write it into the build\'s program state.', false)
            }
            try {
                ObjectOutputStream out = new ProgramStream(new ByteArrayOutputStream())
                out.writeObject(value)
                out.close()
            } catch (NotSerializableException e) {
                violate(site, 'cps', "CPS: local '${name}' (${value?.getClass()?.name}) cannot be saved when ${step} suspends (${where(site)}): " +
                    "java.io.NotSerializableException: ${e.message}", true)
            }
        }
    }
}

/**
 * Serializes a local as the CPS program state would: the script, its binding and the harness's stand-ins
 * for Jenkins objects are pickled by Jenkins itself, so they are replaced here; everything else must serialize.
 */
@groovy.transform.CompileStatic
class ProgramStream extends ObjectOutputStream {
    ProgramStream(OutputStream out) {
        super(out)
        enableReplaceObject(true)
    }

    @Override
    protected Object replaceObject(Object obj) {
        if (obj instanceof Script || obj instanceof Binding || obj instanceof Class ||
            obj != null && obj.getClass().classLoader instanceof GroovyClassLoader && !(obj instanceof Closure)) {
            return '<pickled ' + obj.getClass().name + '>'
        }
        return obj
    }
}
