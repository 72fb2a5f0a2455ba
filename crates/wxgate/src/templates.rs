//! Page templates (minijinja, HTML auto-escaped): embedded defaults, each of which a file of the
//! same name in `WXGATE_TEMPLATE_DIR` overrides — like Django's TEMPLATES DIRS.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::RwLock;

use bytes::Bytes;

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
    /// Pages rendered without context (the guest's `/index/`), kept after the first render:
    /// templates do not change while the process runs.
    rendered: RwLock<HashMap<&'static str, Bytes>>,
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
        Ok(Self {
            env,
            rendered: RwLock::default(),
        })
    }

    pub fn render(&self, name: &str, context: impl Serialize) -> Result<String, minijinja::Error> {
        self.env
            .get_template(name)?
            .render(minijinja::Value::from(minijinja::value::Serde(&context)))
    }

    /// `name` rendered with an empty context, once; later calls share the bytes.
    pub fn render_once(&self, name: &'static str) -> Result<Bytes, minijinja::Error> {
        let cached = self.rendered.read().unwrap_or_else(|e| e.into_inner());
        if let Some(page) = cached.get(name) {
            return Ok(page.clone());
        }
        drop(cached);
        let page = Bytes::from(self.env.get_template(name)?.render(())?);
        self.rendered
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name, page.clone());
        Ok(page)
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
