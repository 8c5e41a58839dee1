//! Finding the declaration whose value is the exported `config`, and
//! refusing top-level statements that change it afterwards.
//!
//! Accepted: `export const config = ...` (also `let`/`var`), as Stack Auth's
//! own static reader took it, and `const x = ...; export { x as config }`,
//! which its loader takes too and which real config files use. Refused with
//! a hint: `export default` and `export =` (Stack Auth reads only the named
//! export), re-exports from another file, and a second `config` export.

use oxc_ast::ast::{
    Argument, BindingPattern, CallExpression, ChainElement, Declaration, Expression,
    ImportOrExportKind, ModuleExportName, Program, SimpleAssignmentTarget, Statement,
    UnaryOperator, VariableDeclarator,
};
use oxc_span::{GetSpan, Span};

use crate::evaluate;
use crate::imports::Imports;
use crate::parse::{Context, ParseError};

/// Where the config's value is declared.
pub(crate) struct ConfigDeclaration<'p, 'a> {
    /// The local variable (`config`, or `x` in `export { x as config }`).
    pub(crate) local: String,
    /// Its declarator, holding the value.
    pub(crate) declarator: &'p VariableDeclarator<'a>,
}

/// Finds the one `config` export and the declaration holding its value.
pub(crate) fn find_config<'p, 'a>(
    context: &Context<'_>,
    imports: &Imports,
    program: &'p Program<'a>,
) -> Result<ConfigDeclaration<'p, 'a>, ParseError> {
    let mut found: Option<ConfigDeclaration<'p, 'a>> = None;
    let mut default_export: Option<Span> = None;
    let mut record = |span: Span, declaration: ConfigDeclaration<'p, 'a>| match &found {
        Some(_) => Err(context.error(
            span,
            "`config` is exported a second time here".to_owned(),
            "keep a single `config` export".to_owned(),
        )),
        None => {
            found = Some(declaration);
            Ok(())
        }
    };
    for statement in &program.body {
        match statement {
            Statement::ExportDeclaration(export) => {
                if let Declaration::VariableDeclaration(variables) = &export.declaration {
                    for declarator in &variables.declarations {
                        if binding_name(&declarator.id) == Some("config") {
                            record(
                                declarator.span,
                                ConfigDeclaration {
                                    local: "config".to_owned(),
                                    declarator,
                                },
                            )?;
                        }
                    }
                }
            }
            Statement::ExportNamedDeclaration(export)
                if export.export_kind == ImportOrExportKind::Value =>
            {
                for specifier in &export.specifiers {
                    if specifier.export_kind == ImportOrExportKind::Value
                        && specifier.exported.name() == "config"
                    {
                        let declaration =
                            exported_local(context, imports, program, &specifier.local)?;
                        record(specifier.span, declaration)?;
                    }
                }
            }
            Statement::ExportFromDeclaration(export)
                if export.export_kind == ImportOrExportKind::Value =>
            {
                for specifier in &export.specifiers {
                    if specifier.export_kind == ImportOrExportKind::Value
                        && specifier.exported.name() == "config"
                    {
                        return Err(re_export(
                            context,
                            specifier.span,
                            export.source.value.as_str(),
                        ));
                    }
                }
            }
            Statement::ExportAllDeclaration(export)
                if export
                    .exported
                    .as_ref()
                    .is_some_and(|name| name.name() == "config") =>
            {
                return Err(re_export(
                    context,
                    export.span,
                    export.source.value.as_str(),
                ));
            }
            Statement::ExportDefaultDeclaration(export) => default_export = Some(export.span),
            Statement::TSExportAssignment(export) => default_export = Some(export.span),
            _ => {}
        }
    }
    if let Some(declaration) = found {
        return Ok(declaration);
    }
    match default_export {
        Some(span) => Err(context.error(
            span,
            "this default export is not read: Stack Auth reads the named export `config`"
                .to_owned(),
            "export the config by name: `export const config = { ... };`".to_owned(),
        )),
        None => Err(context.no_config()),
    }
}

fn re_export(context: &Context<'_>, span: Span, source: &str) -> ParseError {
    context.error(
        span,
        format!("`config` is re-exported from \"{source}\"; the emulator reads only this file"),
        "move the config into this file: `export const config = { ... };`".to_owned(),
    )
}

/// The declaration of the local variable an `export { x as config }` names.
fn exported_local<'p, 'a>(
    context: &Context<'_>,
    imports: &Imports,
    program: &'p Program<'a>,
    local: &ModuleExportName<'a>,
) -> Result<ConfigDeclaration<'p, 'a>, ParseError> {
    let name = local.name();
    let name = name.as_str();
    for statement in &program.body {
        let variables = match statement {
            Statement::VariableDeclaration(variables) => variables,
            Statement::ExportDeclaration(export) => match &export.declaration {
                Declaration::VariableDeclaration(variables) => variables,
                _ => continue,
            },
            _ => continue,
        };
        let declared = variables
            .declarations
            .iter()
            .find(|declarator| binding_name(&declarator.id) == Some(name));
        if let Some(declarator) = declared {
            return Ok(ConfigDeclaration {
                local: name.to_owned(),
                declarator,
            });
        }
    }
    let problem = match imports.get(name) {
        Some(import) => format!(
            "`config` is exported from `{name}`, which is imported from \"{}\"; the emulator reads only this file",
            import.source
        ),
        None => format!(
            "`config` is exported from `{name}`, which is not a variable declared at the top of this file"
        ),
    };
    Err(context.error(
        local.span(),
        problem,
        "declare the config here: `export const config = { ... };`".to_owned(),
    ))
}

fn binding_name<'a>(pattern: &BindingPattern<'a>) -> Option<&'a str> {
    match pattern {
        BindingPattern::BindingIdentifier(identifier) => Some(identifier.name.as_str()),
        _ => None,
    }
}

/// Refuses a top-level statement that changes the config variable after its
/// declaration (`config.x = ...`, `config.list.push(...)`,
/// `Object.assign(config, ...)`, `delete config.x`): running the file would
/// apply it, reading the declaration would not.
pub(crate) fn check_not_changed(
    context: &Context<'_>,
    program: &Program<'_>,
    local: &str,
) -> Result<(), ParseError> {
    for statement in &program.body {
        let Statement::ExpressionStatement(statement) = statement else {
            continue;
        };
        if changes(&statement.expression, local) {
            return Err(context.error(
                statement.span,
                format!(
                    "`{}` changes the config after it is declared; the emulator reads the declaration without running the file",
                    context.snippet(statement.span)
                ),
                "put the change into the config literal itself".to_owned(),
            ));
        }
    }
    Ok(())
}

fn changes(expression: &Expression<'_>, local: &str) -> bool {
    match evaluate::strip_type_layers(expression) {
        Expression::AssignmentExpression(assignment) => {
            assignment
                .left
                .as_simple_assignment_target()
                .is_some_and(|target| target_root(target) == Some(local))
                || changes(&assignment.right, local)
        }
        Expression::UpdateExpression(update) => target_root(&update.argument) == Some(local),
        Expression::UnaryExpression(unary) if unary.operator == UnaryOperator::Delete => {
            root(&unary.argument) == Some(local)
        }
        Expression::CallExpression(call) => call_changes(call, local),
        Expression::ChainExpression(chain) => match &chain.expression {
            ChainElement::CallExpression(call) => call_changes(call, local),
            _ => false,
        },
        Expression::SequenceExpression(sequence) => sequence
            .expressions
            .iter()
            .any(|inner| changes(inner, local)),
        _ => false,
    }
}

/// A call changes the config when it is a method of it (`config.list.push(1)`)
/// or is handed it (`Object.assign(config, ...)`): either can change it.
fn call_changes(call: &CallExpression<'_>, local: &str) -> bool {
    root(&call.callee) == Some(local)
        || call
            .arguments
            .iter()
            .filter_map(Argument::as_expression)
            .any(|argument| root(argument) == Some(local))
}

fn target_root<'a>(target: &SimpleAssignmentTarget<'a>) -> Option<&'a str> {
    match target {
        SimpleAssignmentTarget::AssignmentTargetIdentifier(identifier) => {
            Some(identifier.name.as_str())
        }
        other => other
            .as_member_expression()
            .and_then(|member| root(member.object())),
    }
}

/// The variable an expression like `a.b[c].d` starts from.
fn root<'a>(expression: &Expression<'a>) -> Option<&'a str> {
    let mut expression = expression;
    loop {
        expression = match evaluate::strip_type_layers(expression) {
            Expression::Identifier(identifier) => return Some(identifier.name.as_str()),
            Expression::ChainExpression(chain) => {
                return chain
                    .expression
                    .as_member_expression()
                    .and_then(|member| root(member.object()));
            }
            // `(0, config.list)` is `config.list`.
            Expression::SequenceExpression(sequence) => sequence.expressions.last()?,
            other => other.as_member_expression()?.object(),
        };
    }
}
