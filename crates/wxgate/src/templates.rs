//! Page templates (minijinja, HTML auto-escaped): embedded defaults, each of which a file of the
//! same name in `WXGATE_TEMPLATE_DIR` overrides — like Django's TEMPLATES DIRS.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::RwLock;
use std::time::Duration;

use bytes::Bytes;

use minijinja::Environment;
use serde::Serialize;

use crate::cache::TtlCache;

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
    /// Pages rendered with a context, by template and context ([`Templates::render_cached`]).
    with_context: TtlCache<String, Bytes>,
}

/// How long a page rendered with a context is kept, and how many are: a logged-in user's
/// greeting is a few KB, so this is a few MB at most.
const RENDERED_TTL: Duration = Duration::from_secs(600);
const RENDERED_PAGES: usize = 1000;

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
            with_context: TtlCache::new(RENDERED_TTL, RENDERED_PAGES),
        })
    }

    pub fn render(&self, name: &str, context: impl Serialize) -> Result<String, minijinja::Error> {
        self.env
            .get_template(name)?
            .render(minijinja::Value::from(minijinja::value::Serde(&context)))
    }

    /// `name` rendered with `context`, kept for the next request with the same context (a
    /// logged-in user's `/index/`): the page depends on nothing else, and rendering it costs
    /// more than the rest of the request.
    pub fn render_cached(
        &self,
        name: &'static str,
        context: impl Serialize,
    ) -> Result<Bytes, minijinja::Error> {
        let context = minijinja::Value::from(minijinja::value::Serde(&context));
        // The context's debug form names every value it holds, quoted: an unambiguous key.
        let key = format!("{name}\n{context:?}");
        if let Some(page) = self.with_context.get(&key) {
            return Ok(page);
        }
        let page = Bytes::from(self.env.get_template(name)?.render(context)?);
        self.with_context.insert(key, page.clone());
        Ok(page)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_kept_for_one_context_is_never_served_for_another() {
        let templates = Templates::new(None).unwrap();
        let page = |name: &str, avatar: Option<&str>| {
            let user = minijinja::context! { name => name, avatar => avatar };
            let html = templates
                .render_cached("index.html", minijinja::context! { user => user })
                .unwrap();
            String::from_utf8(html.to_vec()).unwrap()
        };
        let a = page("小明", None);
        assert!(a.contains("小明"));
        // Names that a naive key would confuse: quotes, separators, the other field's text.
        for (name, avatar) in [
            ("小明\", avatar: \"https://x/y.png", None),
            ("小明", Some("https://x/y.png")),
            ("<b>小红</b>", None),
        ] {
            let other = page(name, avatar);
            assert_ne!(other, a, "{name:?} {avatar:?}");
        }
        let escaped = page("<b>小红</b>", None);
        assert!(escaped.contains("&lt;b&gt;小红") && !escaped.contains("<b>"));
        assert_eq!(page("小明", None), a, "the same context, the same page");
    }
}
