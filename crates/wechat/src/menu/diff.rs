//! What publishing a menu would change: the differences between two menus, button by button.

use super::{Button, MatchRule, Menu};

/// What publishing `local` would change in `remote` (e.g. from `menu/get`), one line per
/// difference, by path with 0-based indices; empty when they are the same menu. Buttons are
/// compared by position, as WeChat shows them. Absent, `null`, empty strings and the
/// `"sub_button": []` that `menu/get` echoes on leaves all count as "not set".
pub fn diff(local: &Menu, remote: &Menu) -> Vec<String> {
    let mut out = Vec::new();
    diff_buttons(&mut out, "button", &local.button, &remote.button);
    let none = MatchRule::default();
    let l = local.matchrule.as_ref().unwrap_or(&none);
    let r = remote.matchrule.as_ref().unwrap_or(&none);
    for ((field, lv), (_, rv)) in l.fields().into_iter().zip(r.fields()) {
        diff_value(&mut out, &format!("matchrule.{field}"), lv, rv);
    }
    out
}

fn diff_buttons(out: &mut Vec<String>, path: &str, local: &[Button], remote: &[Button]) {
    for i in 0..local.len().max(remote.len()) {
        let path = format!("{path}[{i}]");
        match (local.get(i), remote.get(i)) {
            (Some(l), None) => out.push(format!("{path}: added {}", describe(l))),
            (None, Some(r)) => out.push(format!("{path}: removed {}", describe(r))),
            (Some(l), Some(r)) => {
                let text = |s: &str| (!s.is_empty()).then(|| s.to_owned());
                diff_value(out, &format!("{path}.name"), &text(&l.name), &text(&r.name));
                for ((field, lv), (_, rv)) in button_fields(l).into_iter().zip(button_fields(r)) {
                    diff_value(out, &format!("{path}.{field}"), lv, rv);
                }
                diff_buttons(
                    out,
                    &format!("{path}.sub_button"),
                    &l.sub_button,
                    &r.sub_button,
                );
            }
            (None, None) => {}
        }
    }
}

fn button_fields(b: &Button) -> [(&'static str, &Option<String>); 7] {
    [
        ("type", &b.kind),
        ("key", &b.key),
        ("url", &b.url),
        ("media_id", &b.media_id),
        ("appid", &b.appid),
        ("pagepath", &b.pagepath),
        ("article_id", &b.article_id),
    ]
}

fn diff_value(out: &mut Vec<String>, path: &str, local: &Option<String>, remote: &Option<String>) {
    let norm = |v: &Option<String>| v.as_deref().filter(|s| !s.is_empty()).map(str::to_owned);
    let (l, r) = (norm(local), norm(remote));
    if l == r {
        return;
    }
    let show = |v: &Option<String>| {
        v.as_ref()
            .map_or("(unset)".to_owned(), |s| format!("{s:?}"))
    };
    out.push(format!("{path}: {} → {}", show(&r), show(&l)));
}

fn describe(b: &Button) -> String {
    match (&b.kind, b.sub_button.len()) {
        (Some(kind), _) => format!("{:?} ({kind})", b.name),
        (None, n) => format!("{:?} ({n} sub-buttons)", b.name),
    }
}
