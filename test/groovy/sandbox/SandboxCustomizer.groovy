// Compiles vars/ and the Jenkinsfile the way the script-security sandbox sees them: every method
// call, property read and write, constructor, static call and operator that becomes a method call
// is rewritten into a call through Sandbox, which checks it against script-security's rules at run
// time (as groovy-sandbox's SandboxTransformer does in Jenkins). Each rewritten place is a *site*,
// listed statically here, so a test can fail when a site was never checked by any scenario.
// It also marks every step call that suspends under CPS, with the locals then in scope, and lists
// @NonCPS methods that call steps. Our own code, written from the public descriptions of groovy-sandbox
// and workflow-cps; it covers the expression kinds vars/ and Jenkinsfile.example use (see Sandbox.LIMITS).
import org.codehaus.groovy.ast.ASTNode
import org.codehaus.groovy.ast.ClassHelper
import org.codehaus.groovy.ast.ClassNode
import org.codehaus.groovy.ast.MethodNode
import org.codehaus.groovy.ast.Parameter
import org.codehaus.groovy.ast.Variable
import org.codehaus.groovy.ast.ClassCodeExpressionTransformer
import org.codehaus.groovy.ast.expr.*
import org.codehaus.groovy.ast.stmt.BlockStatement
import org.codehaus.groovy.ast.stmt.CatchStatement
import org.codehaus.groovy.ast.stmt.ForStatement
import org.codehaus.groovy.classgen.GeneratorContext
import org.codehaus.groovy.control.CompilePhase
import org.codehaus.groovy.control.SourceUnit
import org.codehaus.groovy.control.customizers.CompilationCustomizer
import org.codehaus.groovy.syntax.Token
import org.codehaus.groovy.syntax.Types

class SandboxCustomizer extends CompilationCustomizer {
    final String file

    SandboxCustomizer(String file) {
        super(CompilePhase.SEMANTIC_ANALYSIS)
        this.file = file
    }

    @Override
    void call(SourceUnit source, GeneratorContext context, ClassNode classNode) {
        new SandboxTransformer(source, file, classNode).run()
    }
}

class SandboxTransformer extends ClassCodeExpressionTransformer {
    static final ClassNode SANDBOX = ClassHelper.make(Sandbox)
    static final Map<Integer, String> OPERATORS = [
        (Types.PLUS): 'plus', (Types.MINUS): 'minus', (Types.MULTIPLY): 'multiply', (Types.LEFT_SHIFT): 'leftShift',
        (Types.LEFT_SQUARE_BRACKET): 'getAt', (Types.KEYWORD_IN): 'isCase',
    ]

    final SourceUnit source
    final String file
    final ClassNode classNode
    final Set<String> ownMethods = [] as Set
    /** Locals visible in the current method or closure body, innermost block last. */
    final List<List<Variable>> scopes = []
    MethodNode method

    SandboxTransformer(SourceUnit source, String file, ClassNode classNode) {
        this.source = source
        this.file = file
        this.classNode = classNode
    }

    @Override
    protected SourceUnit getSourceUnit() {
        return source
    }

    void run() {
        for (MethodNode m in classNode.methods) {
            ownMethods << m.name
        }
        for (MethodNode m in classNode.methods) {
            if (m.code == null) {
                continue
            }
            method = m
            boolean nonCps = m.annotations.any { it.classNode.nameWithoutPackage == 'NonCPS' }
            if (nonCps) {
                Sandbox.nonCps << [file: file, method: m.name, line: m.lineNumber]
            }
            scopes << (m.parameters as List<Variable>)
            m.code.visit(this)
            scopes.clear()
        }
    }

    @Override
    void visitBlockStatement(BlockStatement block) {
        scopes << []
        super.visitBlockStatement(block)
        scopes.remove(scopes.size() - 1)
    }

    @Override
    void visitForLoop(ForStatement loop) {
        scopes << (loop.variable == ForStatement.FOR_LOOP_DUMMY ? [] : [loop.variable as Variable])
        super.visitForLoop(loop)
        scopes.remove(scopes.size() - 1)
    }

    @Override
    void visitCatchStatement(CatchStatement c) {
        scopes << [c.variable as Variable]
        super.visitCatchStatement(c)
        scopes.remove(scopes.size() - 1)
    }

    private int site(String kind, String text, ASTNode node, String called = null) {
        int id = Sandbox.sites.size()
        Sandbox.sites << [id: id, file: file, line: node.lineNumber, kind: kind, text: text, method: method?.name,
                          own: called != null && ownMethods.contains(called)]
        return id
    }

    private static Expression call(String name, List<Expression> args) {
        return new StaticMethodCallExpression(SANDBOX, name, new ArgumentListExpression(args))
    }

    private static ListExpression argList(Expression args) {
        ListExpression list = new ListExpression()
        if (args instanceof TupleExpression) {
            for (Expression e in ((TupleExpression) args).expressions) {
                list.addExpression(e instanceof NamedArgumentListExpression ? new MapExpression(e.mapEntryExpressions) : e)
            }
        } else {
            list.addExpression(args)
        }
        return list
    }

    private static boolean plainArgs(Expression args) {
        return !(args instanceof TupleExpression) || !((TupleExpression) args).expressions.any { it instanceof SpreadExpression }
    }

    /** The locals in scope here, as [names] and [values] expressions for Sandbox.suspend. */
    private List<Expression> locals() {
        ListExpression names = new ListExpression()
        ListExpression values = new ListExpression()
        for (List<Variable> scope in scopes) {
            for (Variable v in scope) {
                names.addExpression(new ConstantExpression(v.name))
                values.addExpression(new VariableExpression(v))
            }
        }
        return [names, values]
    }

    @Override
    Expression transform(Expression exp) {
        if (exp == null) {
            return null
        }
        if (exp.lineNumber < 1 && !(exp instanceof ClosureExpression)) {
            // Generated by the compiler (a script's main/run plumbing): no call site of the source.
            return super.transform(exp)
        }
        if (exp instanceof ClosureExpression) {
            ClosureExpression c = (ClosureExpression) exp
            // A closure's frame: its own parameters and locals (the enclosing frame is checked where the
            // closure is handed to its step, which is a suspension point of that frame).
            List<List<Variable>> outer = new ArrayList(scopes)
            scopes.clear()
            scopes << ((c.parameters ?: []) as List<Variable>)
            c.code?.visit(this)
            scopes.clear()
            scopes.addAll(outer)
            return c
        }
        if (exp instanceof DeclarationExpression) {
            DeclarationExpression d = (DeclarationExpression) exp
            if (d.annotations.any { it.classNode.nameWithoutPackage == 'Field' }) {
                return d
            }
            Expression right = transform(d.rightExpression)
            DeclarationExpression copy = new DeclarationExpression(d.leftExpression, d.operation, right)
            copy.sourcePosition = d
            copy.declaringClass = d.declaringClass
            if (!d.multipleAssignmentDeclaration && scopes) {
                scopes.last() << d.variableExpression.accessedVariable
            }
            return copy
        }
        if (exp instanceof MethodCallExpression) {
            return methodCall((MethodCallExpression) exp)
        }
        if (exp instanceof StaticMethodCallExpression) {
            StaticMethodCallExpression s = (StaticMethodCallExpression) exp
            // Resolved to the script's own static method: a call on the script itself.
            int id = site('call', "${s.method}(...)", s, s.method)
            Expression args = transform(s.arguments)
            Expression inner = new StaticMethodCallExpression(s.ownerType, s.method, args)
            inner.sourcePosition = s
            return new TernaryExpression(new BooleanExpression(call('implicit', [new ConstantExpression(id), new ConstantExpression(s.method)] + locals())), inner, ConstantExpression.NULL)
        }
        if (exp instanceof ConstructorCallExpression) {
            ConstructorCallExpression c = (ConstructorCallExpression) exp
            if (c.isSpecialCall() || !plainArgs(c.arguments)) {
                return super.transform(exp)
            }
            int id = site('new', "new ${c.type.name}(...)", c)
            Expression e = call('construct', [new ConstantExpression(id), new ClassExpression(c.type), argList(transform(c.arguments))])
            e.sourcePosition = c
            return e
        }
        if (exp instanceof BinaryExpression && !(exp instanceof DeclarationExpression)) {
            BinaryExpression b = (BinaryExpression) exp
            int op = b.operation.type
            if (op == Types.ASSIGN && b.leftExpression instanceof PropertyExpression && !(b.leftExpression instanceof AttributeExpression)) {
                PropertyExpression p = (PropertyExpression) b.leftExpression
                if (p.propertyAsString != null && !isThis(p.objectExpression)) {
                    int id = site('set', "${p.objectExpression.text}.${p.propertyAsString} = ...", b)
                    Expression e = call('setProperty', [new ConstantExpression(id), transform(p.objectExpression), new ConstantExpression(p.propertyAsString), transform(b.rightExpression)])
                    e.sourcePosition = b
                    return e
                }
            }
            if (op == Types.ASSIGN && b.leftExpression instanceof BinaryExpression && ((BinaryExpression) b.leftExpression).operation.type == Types.LEFT_SQUARE_BRACKET) {
                BinaryExpression index = (BinaryExpression) b.leftExpression
                int id = site('op', "${index.text} = ...", b)
                Expression e = call('invoke', [new ConstantExpression(id), transform(index.leftExpression), new ConstantExpression('putAt'), ConstantExpression.FALSE,
                                               new ListExpression([transform(index.rightExpression), transform(b.rightExpression)])])
                e.sourcePosition = b
                return e
            }
            String name = OPERATORS[op]
            if (name != null) {
                int id = site('op', b.text, b)
                // `a in b` is b.isCase(a).
                Expression receiver = name == 'isCase' ? b.rightExpression : b.leftExpression
                Expression argument = name == 'isCase' ? b.leftExpression : b.rightExpression
                Expression e = call('invoke', [new ConstantExpression(id), transform(receiver), new ConstantExpression(name), ConstantExpression.FALSE, new ListExpression([transform(argument)])])
                e.sourcePosition = b
                return e
            }
            if (op == Types.PLUS_EQUAL && b.leftExpression instanceof VariableExpression) {
                int id = site('op', b.text, b)
                Expression plus = call('invoke', [new ConstantExpression(id), b.leftExpression, new ConstantExpression('plus'), ConstantExpression.FALSE, new ListExpression([transform(b.rightExpression)])])
                BinaryExpression e = new BinaryExpression(b.leftExpression, Token.newSymbol(Types.ASSIGN, b.operation.startLine, b.operation.startColumn), plus)
                e.sourcePosition = b
                return e
            }
            return super.transform(exp)
        }
        if (exp instanceof PropertyExpression && !(exp instanceof AttributeExpression)) {
            PropertyExpression p = (PropertyExpression) exp
            if (p.propertyAsString == null || isThis(p.objectExpression) || p.objectExpression instanceof ClassExpression && p.propertyAsString == 'class') {
                return super.transform(exp)
            }
            int id = site('get', p.text, p)
            Expression e = call('getProperty', [new ConstantExpression(id), transform(p.objectExpression), new ConstantExpression(p.propertyAsString), new ConstantExpression(p.safe)])
            e.sourcePosition = p
            return e
        }
        return super.transform(exp)
    }

    private static boolean isThis(Expression e) {
        return e instanceof VariableExpression && (((VariableExpression) e).thisExpression || ((VariableExpression) e).superExpression)
    }

    private Expression methodCall(MethodCallExpression m) {
        String name = m.methodAsString
        if (name == null || !plainArgs(m.arguments) || m.spreadSafe) {
            return super.transform(m)
        }
        if (m.implicitThis || isThis(m.objectExpression)) {
            // A step, a DSL word or the script's own method: dispatched by the script (CpsScript.invokeMethod
            // in Jenkins). Recorded and checked by name; the call itself keeps Groovy's resolution (closure delegates).
            int id = site('call', "${name}(...)", m, name)
            m.arguments = transform(m.arguments)
            return new TernaryExpression(new BooleanExpression(call('implicit', [new ConstantExpression(id), new ConstantExpression(name)] + locals())), m, ConstantExpression.NULL)
        }
        int id = site(m.objectExpression instanceof ClassExpression ? 'static' : 'call', "${m.objectExpression.text}.${name}(...)", m)
        Expression e = call('invoke', [new ConstantExpression(id), transform(m.objectExpression), new ConstantExpression(name), new ConstantExpression(m.safe), argList(transform(m.arguments))])
        e.sourcePosition = m
        return e
    }
}
