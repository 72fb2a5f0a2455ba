//! The XML reader behind [`super::parse_xml_fields`]: one pass over the body's bytes, no
//! event objects, no copies but the names and texts it keeps.
//!
//! It reads exactly the subset of XML 1.0 a push can be, and refuses the rest:
//! elements (attributes are skipped; `<a/>` is an empty `<a>`), text, CDATA sections, the five
//! predefined entities, character references, comments, processing instructions and the XML
//! declaration (both skipped). A DOCTYPE is refused outright, so no entity can be declared:
//! neither XXE nor entity expansion exists here. Line ends are normalised as XML 1.0 says
//! (`\r\n` and a lone `\r` read as `\n`). Depth, element count, name length and distinct
//! children per element are bounded (the limits in [`super`]).
//!
//! It replaced quick-xml on this path (docs/design-notes.md, "Performance"): a push parsed
//! through quick-xml's events cost about 17,000 instructions, here about 9,000, most of them
//! the allocations of the names and texts kept. The tests below keep the quick-xml reading as
//! the reference and check that both read every body alike.

use memchr::{memchr, memchr2, memchr3};

use super::{
    Field, Fields, MAX_CHILDREN, MAX_DEPTH, MAX_ELEMENTS, MAX_NAME_LEN, MessageError, is_xml_char,
};

struct Frame {
    name: super::Name,
    children: Fields,
    text: String,
}

fn malformed(what: &str) -> MessageError {
    MessageError::Xml(what.to_owned())
}

/// Reads `body` (already free of characters XML forbids) into its element tree.
pub(super) fn read(body: &str) -> Result<Fields, MessageError> {
    let bytes = body.as_bytes();
    let mut stack: Vec<Frame> = Vec::with_capacity(MAX_DEPTH);
    let mut root: Option<Fields> = None;
    let mut elements = 0usize;
    let mut pos = 0usize;
    while pos < bytes.len() {
        // Text, up to the next markup.
        let text_end = memchr(b'<', &bytes[pos..]).map_or(bytes.len(), |i| pos + i);
        if text_end > pos {
            text(&body[pos..text_end], stack.last_mut(), root.is_some())?;
            pos = text_end;
            continue;
        }
        // Markup: every delimiter below is ASCII, so each index is a character boundary.
        let rest = &body[pos..];
        if let Some(after) = rest.strip_prefix("<?") {
            // The XML declaration or a processing instruction: skipped, whatever its target,
            // even an empty one (`<??>`), as quick-xml skips it. `<?>` is refused, as by
            // quick-xml: its `?>` would overlap its `<?`.
            if after.starts_with('>') {
                return Err(malformed("processing instruction without a target"));
            }
            let end = find(after.as_bytes(), b"?>")
                .ok_or_else(|| malformed("unclosed processing instruction"))?;
            pos += 2 + end + 2;
        } else if let Some(after) = rest.strip_prefix("<!--") {
            let end =
                find(after.as_bytes(), b"-->").ok_or_else(|| malformed("unclosed comment"))?;
            pos += 4 + end + 3;
        } else if let Some(after) = rest.strip_prefix("<![CDATA[") {
            let end = find(after.as_bytes(), b"]]>")
                .ok_or_else(|| malformed("unclosed CDATA section"))?;
            let Some(frame) = stack.last_mut() else {
                return Err(MessageError::TrailingContent);
            };
            push_normalized(&mut frame.text, &after[..end]);
            pos += 9 + end + 3;
        } else if rest.starts_with("<!") {
            let doctype = rest
                .get(2..9)
                .is_some_and(|w| w.eq_ignore_ascii_case("DOCTYPE"));
            return Err(if doctype {
                MessageError::Doctype
            } else {
                malformed("unknown markup after <!")
            });
        } else if let Some(after) = rest.strip_prefix("</") {
            let end =
                memchr(b'>', after.as_bytes()).ok_or_else(|| malformed("unclosed end tag"))?;
            let name = after[..end].trim_end_matches(is_xml_space);
            let Some(frame) = stack.pop() else {
                return Err(malformed("unexpected end tag"));
            };
            if frame.name != name {
                return Err(malformed("end tag does not match its start tag"));
            }
            close(frame, &mut stack, &mut root)?;
            pos += 2 + end + 1;
        } else {
            // A start tag: up to the `>` that is not inside a quoted attribute value.
            let tag = &rest[1..];
            let end = tag_end(tag.as_bytes()).ok_or_else(|| malformed("unclosed start tag"))?;
            let content = &tag[..end];
            let (content, empty) = match content.strip_suffix('/') {
                Some(c) => (c, true),
                None => (content, false),
            };
            let name = content
                .find(is_xml_space)
                .map_or(content, |i| &content[..i]);
            if name.len() > MAX_NAME_LEN {
                return Err(MessageError::NameTooLong);
            }
            if root.is_some() {
                return Err(MessageError::TrailingContent);
            }
            if stack.is_empty() && name != "xml" {
                return Err(MessageError::WrongRoot(name.chars().take(64).collect()));
            }
            if stack.len() >= MAX_DEPTH {
                return Err(MessageError::TooDeep);
            }
            elements += 1;
            if elements > MAX_ELEMENTS {
                return Err(MessageError::TooManyElements);
            }
            let frame = Frame {
                name: super::element_name(name),
                children: Fields::default(),
                text: String::new(),
            };
            if empty {
                close(frame, &mut stack, &mut root)?;
            } else {
                stack.push(frame);
            }
            pos += 1 + end + 1;
        }
    }
    if !stack.is_empty() {
        return Err(malformed("unclosed element"));
    }
    root.ok_or(MessageError::NoRoot)
}

/// Where `needle` first occurs in `haystack`: short needles in short bodies, where building
/// a substring searcher (`memchr::memmem`) per call costs more than the search.
pub(super) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = memchr(needle[0], &haystack[from..]) {
        let at = from + i;
        if haystack[at..].starts_with(needle) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// The index of the `>` that ends a start tag (`tag` starts after its `<`); a `>` inside a
/// quoted attribute value does not end it.
fn tag_end(tag: &[u8]) -> Option<usize> {
    let mut i = 0;
    loop {
        let j = i + memchr3(b'>', b'"', b'\'', &tag[i..])?;
        match tag[j] {
            b'>' => return Some(j),
            quote => i = j + 1 + memchr(quote, &tag[j + 1..])? + 1,
        }
    }
}

/// Ends `frame`: it becomes its parent's child, or the document's root.
fn close(frame: Frame, stack: &mut [Frame], root: &mut Option<Fields>) -> Result<(), MessageError> {
    let value = if frame.children.is_empty() {
        Field::Text(frame.text)
    } else {
        Field::Nested(frame.children)
    };
    match stack.last_mut() {
        Some(parent) => {
            if parent.children.len() >= MAX_CHILDREN && parent.children.get(&frame.name).is_none() {
                return Err(MessageError::TooManyChildren);
            }
            parent.children.insert(frame.name, value);
        }
        None => {
            *root = Some(match value {
                Field::Nested(f) => f,
                _ => Fields::default(),
            })
        }
    }
    Ok(())
}

/// Text between markup: entities and character references resolved, line ends normalised,
/// appended to the open element. Outside the root only whitespace may appear.
fn text(raw: &str, frame: Option<&mut Frame>, after_root: bool) -> Result<(), MessageError> {
    let Some(frame) = frame else {
        if raw.contains('&') {
            return Err(MessageError::TrailingContent);
        }
        return match raw.trim().is_empty() {
            true => Ok(()),
            false if after_root => Err(MessageError::TrailingContent),
            false => Err(MessageError::NoRoot),
        };
    };
    let out = &mut frame.text;
    let mut rest = raw;
    while let Some(amp) = memchr(b'&', rest.as_bytes()) {
        push_normalized(out, &rest[..amp]);
        let after = &rest[amp + 1..];
        // A reference ends at `;`, before any other `&` (the text ends at the next `<`).
        let end = memchr2(b';', b'&', after.as_bytes())
            .filter(|&i| after.as_bytes()[i] == b';')
            .ok_or_else(|| malformed("unclosed reference: & must be written &amp;"))?;
        reference(out, &after[..end])?;
        rest = &after[end + 1..];
    }
    push_normalized(out, rest);
    Ok(())
}

/// Appends the character `&name;` stands for. Character references to characters XML
/// forbids, or to none, are dropped like raw ones; an entity other than the five predefined
/// ones is refused.
fn reference(out: &mut String, name: &str) -> Result<(), MessageError> {
    if let Some(number) = name.strip_prefix('#') {
        let code = match number.strip_prefix('x') {
            Some(hex) => parse_unsigned(hex, 16),
            None => parse_unsigned(number, 10),
        };
        if let Some(c) = code.and_then(char::from_u32).filter(|&c| is_xml_char(c)) {
            out.push(c);
        }
        return Ok(());
    }
    out.push(match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        other => {
            return Err(MessageError::UnknownEntity(
                other.chars().take(64).collect(),
            ));
        }
    });
    Ok(())
}

/// Digits only (no sign), as a character reference allows.
fn parse_unsigned(digits: &str, radix: u32) -> Option<u32> {
    if digits.starts_with(['+', '-']) {
        return None;
    }
    u32::from_str_radix(digits, radix).ok()
}

/// Appends `text` with `\r\n` and lone `\r` read as `\n` (XML 1.0 §2.11).
fn push_normalized(out: &mut String, text: &str) {
    if memchr(b'\r', text.as_bytes()).is_none() {
        out.push_str(text);
        return;
    }
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' {
            if chars.peek() == Some(&'\n') {
                chars.next();
            }
            out.push('\n');
        } else {
            out.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    //! quick-xml's reading of a body (the parser this module replaced) is the reference:
    //! whatever either accepts, the other reads the same tree from; whatever one refuses, the
    //! other refuses too.

    use super::*;
    use proptest::prelude::*;
    use quick_xml::Reader;
    use quick_xml::events::Event;

    fn quick_xml_reading(clean: &str) -> Result<Fields, MessageError> {
        let mut reader = Reader::from_str(clean);
        reader.config_mut().expand_empty_elements = true;
        reader.config_mut().check_end_names = true;

        let mut stack: Vec<Frame> = Vec::new();
        let mut root: Option<Fields> = None;
        let mut elements = 0usize;
        loop {
            let event = reader
                .read_event()
                .map_err(|e| MessageError::Xml(e.to_string()))?;
            match event {
                Event::DocType(_) => return Err(MessageError::Doctype),
                Event::Start(start) => {
                    if start.name().0.len() > MAX_NAME_LEN {
                        return Err(MessageError::NameTooLong);
                    }
                    let name = crate::message::Name::from(start.name().0.to_owned());
                    if root.is_some() {
                        return Err(MessageError::TrailingContent);
                    }
                    if stack.is_empty() && name != "xml" {
                        return Err(MessageError::WrongRoot(name.chars().take(64).collect()));
                    }
                    if stack.len() >= MAX_DEPTH {
                        return Err(MessageError::TooDeep);
                    }
                    elements += 1;
                    if elements > MAX_ELEMENTS {
                        return Err(MessageError::TooManyElements);
                    }
                    stack.push(Frame {
                        name,
                        children: Fields::default(),
                        text: String::new(),
                    });
                }
                Event::End(_) => {
                    // check_end_names makes quick-xml reject mismatched or unopened ends.
                    let Some(frame) = stack.pop() else {
                        return Err(MessageError::Xml("unexpected end tag".to_owned()));
                    };
                    let value = if frame.children.is_empty() {
                        Field::Text(frame.text)
                    } else {
                        Field::Nested(frame.children)
                    };
                    match stack.last_mut() {
                        Some(parent) => {
                            if parent.children.len() >= MAX_CHILDREN
                                && parent.children.get(&frame.name).is_none()
                            {
                                return Err(MessageError::TooManyChildren);
                            }
                            parent.children.insert(frame.name, value)
                        }
                        None => {
                            root = Some(match value {
                                Field::Nested(f) => f,
                                _ => Fields::default(),
                            })
                        }
                    }
                }
                Event::Text(text) => {
                    let content = text.xml10_content();
                    match stack.last_mut() {
                        Some(frame) => frame.text.push_str(&content),
                        None if content.trim().is_empty() => {}
                        None if root.is_some() => return Err(MessageError::TrailingContent),
                        None => return Err(MessageError::NoRoot),
                    }
                }
                Event::CData(cdata) => match stack.last_mut() {
                    Some(frame) => frame.text.push_str(&cdata.xml10_content()),
                    None => return Err(MessageError::TrailingContent),
                },
                Event::GeneralRef(reference) => {
                    let Some(frame) = stack.last_mut() else {
                        return Err(MessageError::TrailingContent);
                    };
                    if reference.is_char_ref() {
                        // Invalid or XML-forbidden character references are dropped, like raw ones.
                        if let Ok(Some(c)) = reference.resolve_char_ref()
                            && is_xml_char(c)
                        {
                            frame.text.push(c);
                        }
                    } else {
                        let c = match &*reference {
                            "lt" => '<',
                            "gt" => '>',
                            "amp" => '&',
                            "apos" => '\'',
                            "quot" => '"',
                            other => {
                                return Err(MessageError::UnknownEntity(
                                    other.chars().take(64).collect(),
                                ));
                            }
                        };
                        frame.text.push(c);
                    }
                }
                Event::Empty(_) => {
                    // Unreachable with expand_empty_elements; refuse rather than mis-parse.
                    return Err(MessageError::Xml("unexpected empty element".to_owned()));
                }
                Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
                Event::Eof => break,
            }
        }
        if !stack.is_empty() {
            return Err(MessageError::Xml("unclosed element".to_owned()));
        }
        root.ok_or(MessageError::NoRoot)
    }

    fn agree(body: &str) -> Result<(), TestCaseError> {
        let ours = read(body);
        let reference = quick_xml_reading(body);
        match (&ours, &reference) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b, "{:?}", body),
            (Err(_), Err(_)) => {}
            _ => prop_assert!(
                false,
                "{:?}: ours {:?}, quick-xml {:?}",
                body,
                ours,
                reference
            ),
        }
        Ok(())
    }

    const PUSH: &str = "<xml><ToUserName><![CDATA[gh_1]]></ToUserName>\r\n<FromUserName><![CDATA[o_2]]></FromUserName><CreateTime>1348831860</CreateTime><MsgType><![CDATA[text]]></MsgType><Content>a &lt;b&gt; &#x4e2d;&#25991;\r c</Content><MsgId>1234567890123456</MsgId><SendPicsInfo><Count>2</Count><PicList><item><PicMd5Sum>x</PicMd5Sum></item><item><PicMd5Sum>y</PicMd5Sum></item></PicList></SendPicsInfo></xml>";

    #[test]
    fn a_push_reads_as_quick_xml_reads_it() {
        agree(PUSH).unwrap();
        assert!(read(PUSH).is_ok());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(
            std::env::var("WXGATE_PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256)
        ))]

        #[test]
        fn xml_soup_reads_as_quick_xml_reads_it(s in "(<xml>|</xml>|<xml/>|<[A-Ca]{1,2}>|</[A-Ca]{1,2}>|<[Aa] [a-z]{1,2}=(\"[a-z>'/]{0,3}\"|'[a-z>\"/]{0,3}')/?>|</[Aa] >|<[Aa]/>|<!\\[CDATA\\[|<!\\[cdata\\[|\\]\\]>|&#x?[0-9A-Fa-f+-]{0,8};|&[a-z]{0,5};|&|;|<!DOCTYPE|<!doctype x>|<!--|-->|<!-|<\\?xml version=\"1.0\"\\?>|<\\?|\\?>|<\\?>|<!|<!x>|<|>|\r|\r\n|\n|[ \t]|[a-z0-9]{0,3}|中){0,30}") {
            agree(&s)?;
        }

        #[test]
        fn mangled_pushes_read_as_quick_xml_reads_them(
            cuts in proptest::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>(), "(<|>|&|;|/|\\]\\]>|<!\\[CDATA\\[|\"|'|=|\r| |x|<!--|-->|<\\?|\\?>)?"), 0..4)
        ) {
            let mut body = PUSH.to_owned();
            for (at, len, insert) in cuts {
                let chars: Vec<char> = body.chars().collect();
                let at = at.index(chars.len() + 1);
                let end = (at + len.index(4)).min(chars.len());
                body = chars[..at].iter().chain(insert.chars().collect::<Vec<_>>().iter()).chain(chars[end..].iter()).collect();
            }
            agree(&body)?;
        }
    }
}
