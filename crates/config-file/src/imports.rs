//! The names a config file imports, and which callee among them is Stack
//! Auth's `defineHexclaveConfig` / `defineStackConfig` wrapper: only one
//! imported (by name, alias or namespace, not `import type`) from a
//! `@hexclave/*` or `@stackframe/*` package counts, since those are the
//! packages that export it (`config-authoring.ts` in `@hexclave/shared`,
//! re-exported by the SDKs).

use std::collections::HashMap;

use oxc_ast::ast::{
    Expression, ImportDeclarationSpecifier, ImportOrExportKind, Program, Statement,
};
use oxc_span::GetSpan;

use crate::evaluate;
use crate::form::{Wrapper, WrapperFunction};
use crate::parse::{Context, ParseError};

/// One name an import declaration binds.
pub(crate) struct Import {
    /// The module it comes from.
    pub(crate) source: String,
    /// What the module exports under it.
    imported: Imported,
    /// `import type`: no value at run time.
    type_only: bool,
}

enum Imported {
    Named(String),
    Default,
    Namespace,
}

/// The names the file's imports bind, by local name.
pub(crate) type Imports = HashMap<String, Import>;

/// The names the file's imports bind, and the text of each import
/// declaration.
pub(crate) fn collect_imports(
    context: &Context<'_>,
    program: &Program<'_>,
) -> (Imports, Vec<String>) {
    let mut imports = Imports::new();
    let mut texts = Vec::new();
    for statement in &program.body {
        let Statement::ImportDeclaration(declaration) = statement else {
            continue;
        };
        texts.push(context.text(declaration.span).to_owned());
        let source = declaration.source.value.as_str();
        let declaration_is_type = declaration.import_kind == ImportOrExportKind::Type;
        for specifier in declaration.specifiers.iter().flatten() {
            let (local, imported, type_only) = match specifier {
                ImportDeclarationSpecifier::ImportSpecifier(named) => (
                    named.local.name.as_str(),
                    Imported::Named(named.imported.name().as_str().to_owned()),
                    named.import_kind == ImportOrExportKind::Type,
                ),
                ImportDeclarationSpecifier::ImportDefaultSpecifier(default) => {
                    (default.local.name.as_str(), Imported::Default, false)
                }
                ImportDeclarationSpecifier::ImportNamespaceSpecifier(namespace) => {
                    (namespace.local.name.as_str(), Imported::Namespace, false)
                }
            };
            imports.insert(
                local.to_owned(),
                Import {
                    source: source.to_owned(),
                    imported,
                    type_only: declaration_is_type || type_only,
                },
            );
        }
    }
    (imports, texts)
}

/// The wrapper a callee names, if it is `defineHexclaveConfig` or
/// `defineStackConfig` imported from a Stack Auth package.
pub(crate) fn wrapper_of(
    context: &Context<'_>,
    imports: &Imports,
    callee: &Expression<'_>,
) -> Result<Option<Wrapper>, ParseError> {
    let callee = evaluate::strip_type_layers(callee);
    let (function, import) = match callee {
        Expression::Identifier(identifier) => {
            let name = identifier.name.as_str();
            match imports.get(name) {
                Some(
                    import @ Import {
                        imported: Imported::Named(imported),
                        ..
                    },
                ) => match WrapperFunction::from_name(imported) {
                    Some(function) => (function, import),
                    None => return Ok(None),
                },
                Some(_) => return Ok(None),
                None => match WrapperFunction::from_name(name) {
                    Some(function) => {
                        return Err(context.error(
                            callee.span(),
                            format!("`{name}` is not imported in this file"),
                            format!(
                                "import it: `import {{ {name} }} from \"@hexclave/js\";`",
                                name = function.name()
                            ),
                        ));
                    }
                    None => return Ok(None),
                },
            }
        }
        Expression::StaticMemberExpression(member) => {
            let Expression::Identifier(object) = evaluate::strip_type_layers(&member.object) else {
                return Ok(None);
            };
            let Some(function) = WrapperFunction::from_name(member.property.name.as_str()) else {
                return Ok(None);
            };
            match imports.get(object.name.as_str()) {
                Some(
                    import @ Import {
                        imported: Imported::Namespace,
                        ..
                    },
                ) => (function, import),
                _ => return Ok(None),
            }
        }
        _ => return Ok(None),
    };
    let from_stack_auth =
        import.source.starts_with("@hexclave/") || import.source.starts_with("@stackframe/");
    if !from_stack_auth || import.type_only {
        let why = if import.type_only {
            "with `import type`, so it has no value".to_owned()
        } else {
            format!(
                "from \"{}\", not from a @hexclave/* or @stackframe/* package",
                import.source
            )
        };
        return Err(context.error(
            callee.span(),
            format!("`{}` is imported {why}", context.snippet(callee.span())),
            format!(
                "import it from the SDK: `import {{ {} }} from \"@hexclave/js\";`",
                function.name()
            ),
        ));
    }
    Ok(Some(Wrapper::new(
        function,
        context.snippet(callee.span()),
        import.source.clone(),
    )))
}
