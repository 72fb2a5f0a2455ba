//! Page templates (minijinja, HTML auto-escaped): embedded defaults, each of which a file of the
//! same name in `WXGATE_TEMPLATE_DIR` overrides — like Django's TEMPLATES DIRS.

use std::path::PathBuf;

use minijinja::Environment;
use serde::Serialize;

/// The embedded templates, by name.
const EMBEDDED: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("index.html", include_str!("../templates/index.html")),
    ("message.html", include_str!("../templates/message.html")),
];

#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// Loads and compiles every template now, so a broken override stops start-up instead of
    /// failing a page later.
    pub fn new(override_dir: Option<PathBuf>) -> Result<Self, String> {
        let mut env = Environment::new();
        env.set_loader(move |name| {
            if let Some(path) = override_dir
                .as_deref()
                .and_then(|dir| safe_join(dir, name))
                .filter(|p| p.is_file())
            {
                return std::fs::read_to_string(&path).map(Some).map_err(|e| {
                    minijinja::Error::new(
                        minijinja::ErrorKind::InvalidOperation,
                        format!("cannot read {}: {e}", path.display()),
                    )
                });
            }
            Ok(EMBEDDED
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, src)| (*src).to_owned()))
        });
        for (name, _) in EMBEDDED {
            env.get_template(name)
                .map_err(|e| format!("template {name}: {e:#}"))?;
        }
        Ok(Self { env })
    }

    pub fn render(&self, name: &str, context: impl Serialize) -> Result<String, minijinja::Error> {
        self.env
            .get_template(name)?
            .render(minijinja::Value::from(minijinja::value::Serde(&context)))
    }
}

/// `dir/name`, unless `name` tries to leave `dir`.
fn safe_join(dir: &std::path::Path, name: &str) -> Option<PathBuf> {
    let mut path = dir.to_path_buf();
    for segment in name.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." || segment.contains('\\') {
            return None;
        }
        path.push(segment);
    }
    Some(path)
}
