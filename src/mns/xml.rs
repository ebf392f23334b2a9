//! The XML of the MNS API: a small tree reader for request bodies (namespace-agnostic, text
//! never trimmed, entities and CDATA resolved, no DTDs) and a writer for responses (default
//! namespace on the root, no comments, text escaped so that every parser reads it back).

use quick_xml::Reader;
use quick_xml::events::Event;

use super::error::MnsError;

pub const NAMESPACE: &str = "http://mns.aliyuncs.com/doc/v1/";

/// Nesting deeper than any MNS document (Messages/Message/UserProperties/PropertyValue/Name).
const MAX_DEPTH: usize = 8;

/// An element: its local name, its own text and its child elements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    /// The first child with this local name.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The text of the first child with this local name.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }

    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children.iter().filter(move |c| c.name == name)
    }
}

/// Parses a request body into its root element; anything not well-formed (or not UTF-8, or
/// with a DTD) is `MalformedXML`.
pub fn parse(body: &[u8]) -> Result<Element, MnsError> {
    let text = std::str::from_utf8(body).map_err(|_| MnsError::malformed_xml("not UTF-8"))?;
    let mut reader = Reader::from_str(text);
    let mut open: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let event = reader.read_event().map_err(MnsError::malformed_xml)?;
        match event {
            Event::Start(start) => {
                if root.is_some() {
                    return Err(MnsError::malformed_xml("content after the root element"));
                }
                if open.len() == MAX_DEPTH {
                    return Err(MnsError::malformed_xml("elements nested too deeply"));
                }
                open.push(Element {
                    name: local_name(start.local_name().as_ref())?,
                    ..Element::default()
                });
            }
            Event::Empty(empty) => {
                if open.len() == MAX_DEPTH {
                    return Err(MnsError::malformed_xml("elements nested too deeply"));
                }
                let element = Element {
                    name: local_name(empty.local_name().as_ref())?,
                    ..Element::default()
                };
                close(&mut open, &mut root, element)?;
            }
            Event::End(end) => {
                let name = local_name(end.local_name().as_ref())?;
                let element = open
                    .pop()
                    .ok_or_else(|| MnsError::malformed_xml(format!("</{name}> closes nothing")))?;
                if element.name != name {
                    return Err(MnsError::malformed_xml(format!(
                        "</{name}> closes <{}>",
                        element.name
                    )));
                }
                close(&mut open, &mut root, element)?;
            }
            Event::Text(t) => {
                let content = t.xml10_content().map_err(MnsError::malformed_xml)?;
                push_text(&mut open, &content)?;
            }
            Event::CData(c) => {
                let content = std::str::from_utf8(&c)
                    .map_err(|_| MnsError::malformed_xml("CDATA is not UTF-8"))?
                    .to_string();
                push_text(&mut open, &content)?;
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().map_err(MnsError::malformed_xml)? {
                    Some(c) => c.to_string(),
                    None => {
                        let name = r.decode().map_err(MnsError::malformed_xml)?;
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| {
                                MnsError::malformed_xml(format!("unknown entity &{name};"))
                            })?
                            .to_string()
                    }
                };
                push_text(&mut open, &resolved)?;
            }
            Event::DocType(_) => return Err(MnsError::malformed_xml("a DTD is not allowed")),
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !open.is_empty() {
        return Err(MnsError::malformed_xml(
            "the document ends inside an element",
        ));
    }
    root.ok_or_else(|| MnsError::malformed_xml("there is no root element"))
}

fn local_name(bytes: &[u8]) -> Result<String, MnsError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| MnsError::malformed_xml("a name is not UTF-8"))
}

fn close(
    open: &mut [Element],
    root: &mut Option<Element>,
    element: Element,
) -> Result<(), MnsError> {
    match open.last_mut() {
        Some(parent) => parent.children.push(element),
        None if root.is_none() => *root = Some(element),
        None => return Err(MnsError::malformed_xml("more than one root element")),
    }
    Ok(())
}

/// Text outside the root may only be whitespace.
fn push_text(open: &mut [Element], text: &str) -> Result<(), MnsError> {
    match open.last_mut() {
        Some(element) => element.text.push_str(text),
        None if text.chars().all(char::is_whitespace) => {}
        None => return Err(MnsError::malformed_xml("text outside the root element")),
    }
    Ok(())
}

/// Writes a response document: `<?xml …?><Root xmlns="…">…</Root>`.
pub struct Writer {
    out: String,
    open: Vec<&'static str>,
}

impl Writer {
    pub fn new(root: &'static str) -> Writer {
        let mut out = String::with_capacity(512);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<");
        out.push_str(root);
        out.push_str(" xmlns=\"");
        out.push_str(NAMESPACE);
        out.push_str("\">");
        Writer {
            out,
            open: vec![root],
        }
    }

    /// `<name>text</name>`.
    pub fn text(&mut self, name: &str, text: &str) -> &mut Self {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
        escape(&mut self.out, text);
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
        self
    }

    /// `<name>number</name>`: the SDKs call `int()` on these.
    pub fn int(&mut self, name: &str, value: impl Into<i64>) -> &mut Self {
        self.text(name, &value.into().to_string())
    }

    /// `True` / `False`, as the service writes them.
    pub fn boolean(&mut self, name: &str, value: bool) -> &mut Self {
        self.text(name, if value { "True" } else { "False" })
    }

    pub fn open(&mut self, name: &'static str) -> &mut Self {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
        self.open.push(name);
        self
    }

    pub fn close(&mut self) -> &mut Self {
        let name = self.open.pop().expect("invariant: close matches an open");
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
        self
    }

    pub fn finish(mut self) -> String {
        while !self.open.is_empty() {
            self.close();
        }
        self.out
    }
}

/// Escapes text; a character XML 1.0 cannot carry at all (C0 controls other than tab, LF and
/// CR; U+FFFE, U+FFFF) is written as U+FFFD rather than making the document unreadable.
fn escape(out: &mut String, text: &str) {
    let representable = |c: char| {
        matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
    };
    if text.chars().all(representable) {
        crate::format::escape_xml_text(out, text);
    } else {
        let cleaned: String = text
            .chars()
            .map(|c| if representable(c) { c } else { '\u{FFFD}' })
            .collect();
        crate::format::escape_xml_text(out, &cleaned);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_the_sdk_sends_keeping_whitespace_and_ignoring_namespaces() {
        let body = br#"<?xml version="1.0" encoding="utf-8"?><Messages xmlns="http://mns.aliyuncs.com/doc/v1/"><Message><MessageBody>  a &lt;&amp;&gt; &#13;b  </MessageBody></Message><Message><MessageBody><![CDATA[<x>]]></MessageBody><Priority>1</Priority></Message></Messages>"#;
        let root = parse(body).unwrap();
        assert_eq!(root.name, "Messages");
        let messages: Vec<_> = root.children_named("Message").collect();
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].child_text("MessageBody"), Some("  a <&> \rb  "));
        assert_eq!(messages[1].child_text("MessageBody"), Some("<x>"));
        assert_eq!(messages[1].child_text("Priority"), Some("1"));
        let prefixed =
            parse(b"<m:Queue xmlns:m=\"urn:x\"><m:DelaySeconds>3</m:DelaySeconds></m:Queue>")
                .unwrap();
        assert_eq!(prefixed.name, "Queue");
        assert_eq!(prefixed.child_text("DelaySeconds"), Some("3"));
        assert_eq!(parse(b"<Queue/>").unwrap().children.len(), 0);
    }

    #[test]
    fn refuses_what_is_not_well_formed() {
        for bad in [
            &b""[..],
            b"<Queue>",
            b"<Queue></Topic>",
            b"<a/><b/>",
            b"text<a/>",
            b"<a>&bogus;</a>",
            b"<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>",
            b"<a>\xff</a>",
            b"<a><b><c><d><e><f><g><h><i/></h></g></f></e></d></c></b></a>",
        ] {
            let err = parse(bad).unwrap_err();
            assert_eq!(
                err.code,
                "MalformedXML",
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn writes_a_document_that_reads_back() {
        let mut w = Writer::new("Message");
        w.text("MessageBody", " <&>\r\n\u{1}x ")
            .int("DequeueCount", 3)
            .boolean("LoggingEnabled", false);
        let doc = w.finish();
        assert!(doc.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Message xmlns=\"http://mns.aliyuncs.com/doc/v1/\">"));
        assert!(!doc.contains("<!--"));
        let root = parse(doc.as_bytes()).unwrap();
        assert_eq!(root.child_text("MessageBody"), Some(" <&>\r\n\u{FFFD}x "));
        assert_eq!(root.child_text("DequeueCount"), Some("3"));
        assert_eq!(root.child_text("LoggingEnabled"), Some("False"));
    }
}
