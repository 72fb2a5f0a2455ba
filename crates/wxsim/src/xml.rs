//! The XML WeChat speaks (docs/wechat-protocol.md §C.2–§C.6): building pushes element by element
//! (strings in CDATA, numbers bare) and reading a reply into JSON for reports and the chat page.

use quick_xml::Reader;
use quick_xml::events::Event;
use serde_json::{Map, Value};

/// One element of a pushed message, in order.
#[derive(Clone, Debug)]
pub(crate) enum Node {
    /// A string, written in CDATA.
    Str(&'static str, String),
    /// A number, written bare.
    Num(&'static str, String),
    /// An element with children.
    Parent(&'static str, Vec<Node>),
}

impl Node {
    pub(crate) fn str(name: &'static str, value: impl Into<String>) -> Self {
        Node::Str(name, value.into())
    }

    pub(crate) fn num(name: &'static str, value: impl ToString) -> Self {
        Node::Num(name, value.to_string())
    }
}

/// `<![CDATA[…]]>`, splitting any `]]>` in the text so the section cannot be closed early.
pub(crate) fn cdata(text: &str) -> String {
    format!("<![CDATA[{}]]>", text.replace("]]>", "]]]]><![CDATA[>"))
}

fn write_node(out: &mut String, node: &Node) {
    match node {
        Node::Str(name, v) => out.push_str(&format!("<{name}>{}</{name}>", cdata(v))),
        Node::Num(name, v) => out.push_str(&format!("<{name}>{v}</{name}>")),
        Node::Parent(name, children) => {
            out.push_str(&format!("<{name}>"));
            for c in children {
                write_node(out, c);
            }
            out.push_str(&format!("</{name}>"));
        }
    }
}

/// The elements joined the way WeChat's own pushes look: `<xml>`, one element per line.
pub(crate) fn document(nodes: &[Node]) -> String {
    let mut out = String::from("<xml>");
    for n in nodes {
        write_node(&mut out, n);
        out.push('\n');
    }
    out.push_str("</xml>");
    out
}

struct Open {
    name: String,
    children: Map<String, Value>,
    /// Names of the child elements, in order (to spot `<item>` lists).
    child_names: Vec<String>,
    text: String,
    /// Text outside CDATA sections that was only whitespace is dropped once CDATA is seen.
    had_cdata: bool,
    loose_text: String,
}

impl Open {
    fn new(name: String) -> Self {
        Open {
            name,
            children: Map::new(),
            child_names: Vec::new(),
            text: String::new(),
            had_cdata: false,
            loose_text: String::new(),
        }
    }

    fn into_value(self) -> Value {
        if self.child_names.is_empty() {
            let mut text = self.text;
            if !self.had_cdata {
                text = self.loose_text;
            } else if !self.loose_text.trim().is_empty() {
                // CDATA mixed with real text: keep both, CDATA first is good enough here.
                text.push_str(self.loose_text.trim());
            }
            return Value::String(text);
        }
        // A list of <item> children (Articles, PicList) becomes an array.
        if self.child_names.iter().all(|n| n == "item") {
            return match self.children.get("item") {
                Some(Value::Array(items)) => Value::Array(items.clone()),
                Some(one) => Value::Array(vec![one.clone()]),
                None => Value::Array(Vec::new()),
            };
        }
        Value::Object(self.children)
    }

    fn add_child(&mut self, name: String, value: Value) {
        let seen = self.child_names.iter().filter(|n| **n == name).count();
        self.child_names.push(name.clone());
        if name == "item" {
            // Always a list, even with one item.
            match self.children.get_mut(&name) {
                Some(Value::Array(list)) => list.push(value),
                _ => {
                    self.children.insert(name, Value::Array(vec![value]));
                }
            }
            return;
        }
        match (seen, self.children.get_mut(&name)) {
            (0, _) | (_, None) => {
                self.children.insert(name, value);
            }
            // The second of a repeated element: turn it into a list.
            (1, Some(existing)) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
            (_, Some(Value::Array(list))) => list.push(value),
            (_, Some(existing)) => *existing = value,
        }
    }
}

fn entity(name: &str) -> Option<char> {
    Some(match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        _ => return None,
    })
}

/// Reads an XML document into `(root element name, value)`: a leaf element becomes its text, an
/// element with children an object (repeated names become arrays), and a list of `<item>`s an
/// array. No DTD, no external entities: only the five predefined entities and character references.
pub(crate) fn to_json(xml: &str) -> Result<(String, Value), String> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Open> = Vec::new();
    let mut root: Option<(String, Value)> = None;
    loop {
        let event = reader.read_event().map_err(|e| {
            format!(
                "not well-formed XML at byte {}: {e}",
                reader.error_position()
            )
        })?;
        match event {
            Event::Start(e) => {
                if root.is_some() {
                    return Err("more than one root element".to_string());
                }
                stack.push(Open::new(e.local_name().as_ref().to_string()));
            }
            Event::Empty(e) => {
                let name = e.local_name().as_ref().to_string();
                match stack.last_mut() {
                    Some(parent) => parent.add_child(name, Value::String(String::new())),
                    None if root.is_none() => root = Some((name, Value::String(String::new()))),
                    None => return Err("more than one root element".to_string()),
                }
            }
            Event::End(_) => {
                let open = stack.pop().ok_or("closing tag without an opening one")?;
                let name = open.name.clone();
                let value = open.into_value();
                match stack.last_mut() {
                    Some(parent) => parent.add_child(name, value),
                    None => root = Some((name, value)),
                }
            }
            Event::Text(t) => {
                let text = t.xml10_content();
                match stack.last_mut() {
                    Some(open) => open.loose_text.push_str(&text),
                    None if text.trim().is_empty() => {}
                    None => return Err("text outside the root element".to_string()),
                }
            }
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref() {
                    Ok(Some(c)) => c,
                    Ok(None) => entity(&r).ok_or_else(|| format!("unknown entity &{};", &*r))?,
                    Err(e) => return Err(format!("bad character reference: {e}")),
                };
                match stack.last_mut() {
                    Some(open) => open.loose_text.push(c),
                    None => return Err("text outside the root element".to_string()),
                }
            }
            Event::CData(c) => match stack.last_mut() {
                Some(open) => {
                    open.had_cdata = true;
                    open.text.push_str(&c.xml10_content());
                }
                None => return Err("CDATA outside the root element".to_string()),
            },
            Event::Eof => break,
            // Declarations, comments, processing instructions and DOCTYPEs carry nothing we read
            // (and a DOCTYPE is never expanded).
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err(format!(
            "element <{}> is not closed",
            stack[stack.len() - 1].name
        ));
    }
    root.ok_or_else(|| "no root element".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builds_like_wechat() {
        let xml = document(&[
            Node::str("ToUserName", "gh_1"),
            Node::num("CreateTime", 1_700_000_000),
            Node::Parent("ScanCodeInfo", vec![Node::str("ScanType", "qrcode")]),
            Node::str("Content", "a]]>b"),
        ]);
        assert_eq!(
            xml,
            "<xml><ToUserName><![CDATA[gh_1]]></ToUserName>\n<CreateTime>1700000000</CreateTime>\n\
             <ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType></ScanCodeInfo>\n\
             <Content><![CDATA[a]]]]><![CDATA[>b]]></Content>\n</xml>"
        );
        let (root, v) = to_json(&xml).unwrap();
        assert_eq!(root, "xml");
        assert_eq!(v["Content"], "a]]>b");
        assert_eq!(v["CreateTime"], "1700000000");
        assert_eq!(v["ScanCodeInfo"]["ScanType"], "qrcode");
    }

    #[test]
    fn reads_items_entities_and_repeats() {
        let xml = "<?xml version=\"1.0\"?><xml><A>x &amp; &#x4e2d; &lt;</A><Articles><item><Title><![CDATA[t1]]></Title></item><item><Title>t2</Title></item></Articles>\
                   <One><item><T>1</T></item></One><R>1</R><R>2</R><R>3</R><E/><C>\n  <![CDATA[c]]>\n</C></xml>";
        let (_, v) = to_json(xml).unwrap();
        assert_eq!(v["A"], "x & 中 <");
        assert_eq!(v["Articles"], json!([{"Title": "t1"}, {"Title": "t2"}]));
        assert_eq!(v["One"], json!([{"T": "1"}]));
        assert_eq!(v["R"], json!(["1", "2", "3"]));
        assert_eq!(v["E"], "");
        assert_eq!(v["C"], "c");
    }

    #[test]
    fn rejects_broken_xml() {
        for bad in [
            "",
            "{\"a\":1}",
            "<xml><a></b></xml>",
            "<xml><a>",
            "<xml/><xml/>",
            "<xml>&foo;</xml>",
        ] {
            assert!(to_json(bad).is_err(), "{bad}");
        }
    }
}
