//! The XML side of the codec: a narrow, non-expanding reader for push bodies and the reply builders.
//!
//! The reader walks quick-xml events once, keeps only the direct children of the root element whose names
//! it knows, and borrows their text from the input whenever it can (one allocation per field is made when
//! the [`Push`] is built). Values may be plain text, CDATA, or a mix; whitespace-only text directly around
//! a CDATA section (pretty-printing) is dropped, everything else is kept as sent.

use std::borrow::Cow;
use std::fmt::Write as _;

use quick_xml::errors::{Error as XmlError, SyntaxError};
use quick_xml::events::{BytesRef, Event as XmlEvent};
use quick_xml::Reader;

use super::{Envelope, Event, Push, PushKind, WechatError, MAX_PUSH_BYTES};

macro_rules! fields {
    ($($name:ident),* $(,)?) => {
        /// The element names the reader keeps; any other element is skipped.
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        enum Field { $($name),* }

        impl Field {
            const ALL: &'static [Field] = &[$(Field::$name),*];

            const fn name(self) -> &'static str {
                match self { $(Field::$name => stringify!($name)),* }
            }
        }
    };
}

fields!(
    ToUserName,
    FromUserName,
    CreateTime,
    MsgType,
    MsgId,
    Content,
    PicUrl,
    MediaId,
    Format,
    Recognition,
    ThumbMediaId,
    Location_X,
    Location_Y,
    Scale,
    Label,
    Title,
    Description,
    Url,
    Event,
    EventKey,
    Ticket,
    Latitude,
    Longitude,
    Precision,
    SessionFrom,
    AppId,
    PagePath,
    ThumbUrl,
    Encrypt,
);

impl Field {
    fn from_name(name: &[u8]) -> Option<Field> {
        Field::ALL
            .iter()
            .copied()
            .find(|f| f.name().as_bytes() == name)
    }
}

/// The known fields of one document, borrowed from the input where possible.
struct Fields<'a> {
    values: [Option<Cow<'a, str>>; Field::ALL.len()],
}

impl<'a> Fields<'a> {
    fn new() -> Self {
        Fields {
            values: std::array::from_fn(|_| None),
        }
    }

    fn set(&mut self, field: Field, value: Cow<'a, str>) -> Result<(), WechatError> {
        let slot = &mut self.values[field as usize];
        if slot.is_some() {
            return Err(WechatError::Malformed(format!(
                "duplicate {}",
                field.name()
            )));
        }
        *slot = Some(value);
        Ok(())
    }

    fn get(&self, field: Field) -> Option<&str> {
        self.values[field as usize].as_deref()
    }

    /// The value as sent, or an empty string when the element is absent.
    fn text(&mut self, field: Field) -> String {
        self.values[field as usize]
            .take()
            .map(Cow::into_owned)
            .unwrap_or_default()
    }

    /// The trimmed value, `None` when absent or blank.
    fn opt(&mut self, field: Field) -> Option<String> {
        let value = self.values[field as usize].take()?;
        let trimmed = value.trim();
        if trimmed.is_empty() {
            None
        } else if trimmed.len() == value.len() {
            Some(value.into_owned())
        } else {
            Some(trimmed.to_owned())
        }
    }

    /// The trimmed value; a missing or blank element is `Malformed` naming the field.
    fn required(&mut self, field: Field) -> Result<String, WechatError> {
        self.opt(field).ok_or_else(|| missing(field))
    }

    fn number<T: std::str::FromStr>(&self, field: Field) -> Result<T, WechatError> {
        let raw = self.get(field).ok_or_else(|| missing(field))?;
        raw.trim()
            .parse()
            .map_err(|_| WechatError::Malformed(format!("{} is not a valid number", field.name())))
    }

    fn coordinate(&self, field: Field) -> Result<f64, WechatError> {
        let value: f64 = self.number(field)?;
        if value.is_finite() {
            Ok(value)
        } else {
            Err(WechatError::Malformed(format!(
                "{} is not a finite number",
                field.name()
            )))
        }
    }
}

fn missing(field: Field) -> WechatError {
    WechatError::Malformed(format!("missing {}", field.name()))
}

/// Collects the pieces of one field's content.
struct Value<'a> {
    field: Field,
    value: Option<Cow<'a, str>>,
    /// Whitespace-only text not yet known to be significant.
    pending_ws: Option<Cow<'a, str>>,
    after_cdata: bool,
}

impl<'a> Value<'a> {
    fn new(field: Field) -> Self {
        Value {
            field,
            value: None,
            pending_ws: None,
            after_cdata: false,
        }
    }

    fn append(&mut self, piece: Cow<'a, str>) {
        match &mut self.value {
            None => self.value = Some(piece),
            Some(v) => v.to_mut().push_str(&piece),
        }
    }

    fn flush_ws(&mut self) {
        if let Some(ws) = self.pending_ws.take() {
            self.append(ws);
        }
    }

    fn text(&mut self, text: Cow<'a, str>) {
        if text.bytes().all(is_xml_whitespace) {
            if !self.after_cdata {
                match &mut self.pending_ws {
                    None => self.pending_ws = Some(text),
                    Some(ws) => ws.to_mut().push_str(&text),
                }
            }
        } else {
            self.flush_ws();
            self.append(text);
            self.after_cdata = false;
        }
    }

    fn cdata(&mut self, text: Cow<'a, str>) {
        self.pending_ws = None;
        self.append(text);
        self.after_cdata = true;
    }

    fn reference(&mut self, ch: char) {
        self.flush_ws();
        let mut buf = [0u8; 4];
        self.append(Cow::Owned(ch.encode_utf8(&mut buf).to_owned()));
        self.after_cdata = false;
    }

    fn finish(mut self) -> Cow<'a, str> {
        self.flush_ws();
        self.value.unwrap_or(Cow::Borrowed(""))
    }
}

const fn is_xml_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Resolves a general reference: the five predefined entities and numeric character references only.
fn resolve_reference(reference: &BytesRef<'_>) -> Result<char, WechatError> {
    if reference.is_char_ref() {
        return match reference.resolve_char_ref() {
            Ok(Some(ch)) => Ok(ch),
            _ => Err(WechatError::Malformed("invalid character reference".into())),
        };
    }
    resolve_predefined(reference).ok_or_else(|| {
        let name = String::from_utf8_lossy(reference).into_owned();
        WechatError::Forbidden(format!("entity reference &{name};"))
    })
}

fn resolve_predefined(name: &[u8]) -> Option<char> {
    Some(match name {
        b"lt" => '<',
        b"gt" => '>',
        b"amp" => '&',
        b"apos" => '\'',
        b"quot" => '"',
        _ => return None,
    })
}

/// Attribute values are never read, but an undefined entity reference inside a tag is refused all the
/// same so that the same document is never accepted here and expanded elsewhere.
fn check_tag_references(tag: &[u8]) -> Result<(), WechatError> {
    let mut rest = tag;
    while let Some(amp) = rest.iter().position(|&b| b == b'&') {
        let after = &rest[amp + 1..];
        let semi = after
            .iter()
            .position(|&b| b == b';')
            .ok_or_else(|| WechatError::Malformed("unterminated reference in a tag".into()))?;
        let name = &after[..semi];
        if name.first() != Some(&b'#') && resolve_predefined(name).is_none() {
            let name = String::from_utf8_lossy(name).into_owned();
            return Err(WechatError::Forbidden(format!("entity reference &{name};")));
        }
        rest = &after[semi + 1..];
    }
    Ok(())
}

fn reader_error(reader: &Reader<&[u8]>, xml: &[u8], error: XmlError) -> WechatError {
    if let XmlError::Syntax(SyntaxError::InvalidBangMarkup) = error {
        // `<!ENTITY`, `<!ELEMENT`, `<!ATTLIST`, `<!NOTATION` outside a DOCTYPE.
        let at = usize::try_from(reader.error_position()).unwrap_or(usize::MAX);
        let rest = xml.get(at..).unwrap_or_default();
        if rest.starts_with(b"<!") && rest.get(2).is_some_and(u8::is_ascii_alphabetic) {
            return WechatError::Forbidden("markup declaration outside a DOCTYPE".into());
        }
    }
    WechatError::Malformed(format!("invalid XML: {error}"))
}

fn decoding_error<E>(_: E) -> WechatError {
    WechatError::Malformed("text is not valid UTF-8".into())
}

/// Reads a push body into its known fields, enforcing the safety rules described in the module docs.
fn scan(xml: &[u8]) -> Result<Fields<'_>, WechatError> {
    if xml.len() > MAX_PUSH_BYTES {
        return Err(WechatError::TooLarge);
    }
    let mut reader = Reader::from_reader(xml);
    let mut fields = Fields::new();
    let mut depth = 0usize;
    let mut root_seen = false;
    let mut root_closed = false;
    let mut at_start = true;
    let mut current: Option<Value<'_>> = None;

    loop {
        let event = reader
            .read_event()
            .map_err(|e| reader_error(&reader, xml, e))?;
        // Only the XML declaration may open the document; whitespace before it is tolerated.
        let was_at_start = at_start;
        at_start = at_start
            && matches!(&event, XmlEvent::Text(t) if t.iter().copied().all(is_xml_whitespace));
        match event {
            XmlEvent::Decl(_) if was_at_start => {}
            XmlEvent::Decl(_) => {
                return Err(WechatError::Forbidden(
                    "XML declaration after the start of the document".into(),
                ))
            }
            XmlEvent::PI(_) => return Err(WechatError::Forbidden("processing instruction".into())),
            XmlEvent::DocType(doctype) => {
                let has_entity = doctype
                    .windows(8)
                    .any(|w| w.eq_ignore_ascii_case(b"<!ENTITY"));
                let what = if has_entity {
                    "entity declaration"
                } else {
                    "DOCTYPE"
                };
                return Err(WechatError::Forbidden(what.into()));
            }
            XmlEvent::Comment(_) => {}
            XmlEvent::Start(tag) => {
                if root_closed {
                    return Err(WechatError::Malformed(
                        "content after the root element".into(),
                    ));
                }
                check_tag_references(&tag)?;
                depth += 1;
                match depth {
                    1 => root_seen = true,
                    2 => current = Field::from_name(tag.name().as_ref()).map(Value::new),
                    _ => {}
                }
            }
            XmlEvent::Empty(tag) => {
                if root_closed {
                    return Err(WechatError::Malformed(
                        "content after the root element".into(),
                    ));
                }
                check_tag_references(&tag)?;
                match depth {
                    0 => (root_seen, root_closed) = (true, true),
                    1 => {
                        if let Some(field) = Field::from_name(tag.name().as_ref()) {
                            fields.set(field, Cow::Borrowed(""))?;
                        }
                    }
                    _ => {}
                }
            }
            XmlEvent::End(_) => {
                if depth == 2 {
                    if let Some(value) = current.take() {
                        let field = value.field;
                        fields.set(field, value.finish())?;
                    }
                }
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| WechatError::Malformed("unbalanced end tag".into()))?;
                if depth == 0 {
                    root_closed = true;
                }
            }
            XmlEvent::Text(text) => {
                let text = text.xml10_content().map_err(decoding_error)?;
                if depth == 0 {
                    if !text.bytes().all(is_xml_whitespace) {
                        return Err(WechatError::Malformed(
                            "text outside the root element".into(),
                        ));
                    }
                } else if let (2, Some(value)) = (depth, current.as_mut()) {
                    value.text(text);
                }
            }
            XmlEvent::CData(cdata) => {
                let text = cdata.xml10_content().map_err(decoding_error)?;
                if depth == 0 {
                    return Err(WechatError::Malformed(
                        "CDATA outside the root element".into(),
                    ));
                }
                if let (2, Some(value)) = (depth, current.as_mut()) {
                    value.cdata(text);
                }
            }
            XmlEvent::GeneralRef(reference) => {
                let ch = resolve_reference(&reference)?;
                if depth == 0 {
                    return Err(WechatError::Malformed(
                        "reference outside the root element".into(),
                    ));
                }
                if let (2, Some(value)) = (depth, current.as_mut()) {
                    value.reference(ch);
                }
            }
            XmlEvent::Eof => break,
        }
    }

    if !root_seen {
        return Err(WechatError::Malformed("no root element".into()));
    }
    if !root_closed {
        return Err(WechatError::Malformed("unexpected end of document".into()));
    }
    Ok(fields)
}

/// Parses a plain push body (or the decrypted payload of a safe-mode push).
///
/// `ToUserName`, `FromUserName`, `CreateTime` (an integer) and `MsgType` are required; `Event` is required
/// when `MsgType` is `event`; coordinates are required for `location` messages and `LOCATION` events.
/// Other missing string fields read as empty, unknown elements are ignored, unknown `MsgType` and `Event`
/// values are kept as [`PushKind::Other`] and [`Event::Other`].
pub fn parse_push(xml: &[u8]) -> Result<Push, WechatError> {
    build_push(scan(xml)?)
}

/// Parses a Mini Program push sent in JSON (the data format chosen in the Mini Program's message push
/// settings): the same fields as the XML push, as one flat JSON object; `CreateTime` and `MsgId` may be
/// numbers or strings.
///
/// ```json
/// {"ToUserName":"toUser","FromUserName":"fromUser","CreateTime":1482048670,"MsgType":"text",
///  "Content":"this is a test","MsgId":1234567890123456}
/// ```
pub fn parse_push_json(json: &[u8]) -> Result<Push, WechatError> {
    build_push(scan_json(json)?)
}

/// The encrypted form of a JSON push: `{"ToUserName": "...", "Encrypt": "..."}`.
pub fn parse_envelope_json(json: &[u8]) -> Result<Envelope, WechatError> {
    let mut f = scan_json(json)?;
    let encrypt = f.required(Field::Encrypt)?;
    Ok(Envelope {
        to_user_name: f.opt(Field::ToUserName),
        encrypt,
    })
}

/// Whether a push body is JSON (its first non-blank byte is `{`) rather than XML.
pub fn is_json(body: &[u8]) -> bool {
    body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// Reads the known fields of a flat JSON object. Strings are taken as they are, numbers in their decimal
/// form; nested values and unknown keys are ignored. Duplicate keys are refused like duplicate elements.
fn scan_json(json: &[u8]) -> Result<Fields<'static>, WechatError> {
    if json.len() > MAX_PUSH_BYTES {
        return Err(WechatError::TooLarge);
    }
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(json).map_err(|e| WechatError::Malformed(format!("JSON: {e}")))?;
    let mut fields = Fields::new();
    for (key, value) in map {
        let Some(field) = Field::from_name(key.as_bytes()) else {
            continue;
        };
        let text = match value {
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Null => continue,
            _ => {
                return Err(WechatError::Malformed(format!(
                    "{key} is not a string or number"
                )))
            }
        };
        fields.set(field, Cow::Owned(text))?;
    }
    Ok(fields)
}

fn build_push(mut f: Fields<'_>) -> Result<Push, WechatError> {
    use Field as F;

    let to_user_name = f.required(F::ToUserName)?;
    let from_user_name = f.required(F::FromUserName)?;
    let create_time = f.number(F::CreateTime)?;
    let msg_type = f.required(F::MsgType)?;
    let msg_id = f.opt(F::MsgId);

    let is = |name: &str| msg_type.eq_ignore_ascii_case(name);
    let kind = if is("text") {
        PushKind::Text {
            content: f.text(F::Content),
        }
    } else if is("image") {
        PushKind::Image {
            pic_url: f.text(F::PicUrl),
            media_id: f.text(F::MediaId),
        }
    } else if is("voice") {
        PushKind::Voice {
            media_id: f.text(F::MediaId),
            format: f.text(F::Format),
            recognition: f.opt(F::Recognition),
        }
    } else if is("video") {
        PushKind::Video {
            media_id: f.text(F::MediaId),
            thumb_media_id: f.text(F::ThumbMediaId),
        }
    } else if is("shortvideo") {
        PushKind::ShortVideo {
            media_id: f.text(F::MediaId),
            thumb_media_id: f.text(F::ThumbMediaId),
        }
    } else if is("location") {
        PushKind::Location {
            latitude: f.coordinate(F::Location_X)?,
            longitude: f.coordinate(F::Location_Y)?,
            scale: f.number(F::Scale).ok(),
            label: f.text(F::Label),
        }
    } else if is("link") {
        PushKind::Link {
            title: f.text(F::Title),
            description: f.text(F::Description),
            url: f.text(F::Url),
        }
    } else if is("miniprogrampage") {
        PushKind::MiniProgramPage {
            title: f.text(F::Title),
            app_id: f.text(F::AppId),
            page_path: f.text(F::PagePath),
            thumb_url: f.text(F::ThumbUrl),
            thumb_media_id: f.text(F::ThumbMediaId),
        }
    } else if is("event") {
        PushKind::Event(parse_event(&mut f)?)
    } else {
        PushKind::Other { msg_type }
    };

    Ok(Push {
        to_user_name,
        from_user_name,
        create_time,
        msg_id,
        kind,
    })
}

fn parse_event(f: &mut Fields<'_>) -> Result<Event, WechatError> {
    use Field as F;

    let event = f.required(F::Event)?;
    let is = |name: &str| event.eq_ignore_ascii_case(name);
    Ok(if is("subscribe") {
        Event::Subscribe {
            event_key: f.opt(F::EventKey),
            ticket: f.opt(F::Ticket),
        }
    } else if is("unsubscribe") {
        Event::Unsubscribe
    } else if is("scan") {
        Event::Scan {
            event_key: f.text(F::EventKey),
            ticket: f.opt(F::Ticket),
        }
    } else if is("click") {
        Event::Click {
            event_key: f.text(F::EventKey),
        }
    } else if is("view") {
        Event::View {
            url: f.text(F::EventKey),
        }
    } else if is("location") {
        Event::ReportLocation {
            latitude: f.coordinate(F::Latitude)?,
            longitude: f.coordinate(F::Longitude)?,
            precision: f.coordinate(F::Precision)?,
        }
    } else if is("user_enter_tempsession") {
        Event::UserEnterTempSession {
            session_from: f.opt(F::SessionFrom),
        }
    } else {
        Event::Other { event }
    })
}

/// Parses the body of a safe-mode POST (encrypted or compatible mode) into its [`Envelope`]. The same
/// size and safety rules as [`parse_push`] apply; `Encrypt` is required.
pub fn parse_envelope(xml: &[u8]) -> Result<Envelope, WechatError> {
    let mut f = scan(xml)?;
    let encrypt = f.required(Field::Encrypt)?;
    Ok(Envelope {
        to_user_name: f.opt(Field::ToUserName),
        encrypt,
    })
}

/// Builds a plain passive text reply. `to` is the user's OpenID (the push's `FromUserName`), `from` the
/// account (the push's `ToUserName`).
///
/// Every string is written as CDATA; a `]]>` inside is split across two sections, and characters XML 1.0
/// cannot carry at all (C0 controls other than tab, line feed and carriage return; U+FFFE, U+FFFF) are
/// dropped.
pub fn text_reply(to: &str, from: &str, create_time: i64, content: &str) -> String {
    let mut out = String::with_capacity(192 + to.len() + from.len() + content.len());
    out.push_str("<xml><ToUserName>");
    push_cdata(&mut out, to);
    out.push_str("</ToUserName><FromUserName>");
    push_cdata(&mut out, from);
    out.push_str("</FromUserName><CreateTime>");
    // Writing to a String cannot fail.
    let _ = write!(out, "{create_time}");
    out.push_str("</CreateTime><MsgType><![CDATA[text]]></MsgType><Content>");
    push_cdata(&mut out, content);
    out.push_str("</Content></xml>");
    out
}

fn is_xml_char(c: char) -> bool {
    !matches!(c, '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}')
}

/// Appends `text` as one or more CDATA sections.
pub(super) fn push_cdata(out: &mut String, text: &str) {
    let cleaned: Cow<'_, str> = if text.chars().all(is_xml_char) {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.chars().filter(|&c| is_xml_char(c)).collect())
    };
    out.push_str("<![CDATA[");
    let mut rest: &str = &cleaned;
    while let Some(i) = rest.find("]]>") {
        // Close the section after "]]" and reopen it before ">".
        out.push_str(&rest[..i + 2]);
        out.push_str("]]><![CDATA[");
        rest = &rest[i + 2..];
    }
    out.push_str(rest);
    out.push_str("]]>");
}

/// Appends `text` as escaped character data.
pub(super) fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars().filter(|&c| is_xml_char(c)) {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            _ => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content_of(xml: &str) -> String {
        match parse_push(xml.as_bytes()).unwrap().kind {
            PushKind::Text { content } => content,
            other => panic!("not text: {other:?}"),
        }
    }

    fn text_push(content_xml: &str) -> String {
        format!(
            "<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime>\
             <MsgType>text</MsgType><Content>{content_xml}</Content></xml>"
        )
    }

    #[test]
    fn mixes_text_references_and_cdata() {
        assert_eq!(
            content_of(&text_push(
                "a &amp; b &#x4E2D;&#25991; &lt;&gt;&apos;&quot;"
            )),
            "a & b 中文 <>'\""
        );
        assert_eq!(content_of(&text_push("x<![CDATA[<y>]]>z")), "x<y>z");
        assert_eq!(content_of(&text_push("\n  <![CDATA[ kept ]]>\n")), " kept ");
        assert_eq!(content_of(&text_push("  plain  ")), "  plain  ");
        assert_eq!(content_of(&text_push("<![CDATA[]]>")), "");
        assert_eq!(content_of(&text_push("")), "");
        assert_eq!(content_of(&text_push("line1\r\nline2")), "line1\nline2");
    }

    #[test]
    fn nested_elements_do_not_leak_into_top_level_fields() {
        let xml = "<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime>\
                   <MsgType>event</MsgType><Event>location_select</Event>\
                   <SendLocationInfo><Location_X>23</Location_X></SendLocationInfo></xml>";
        let push = parse_push(xml.as_bytes()).unwrap();
        assert_eq!(
            push.kind,
            PushKind::Event(Event::Other {
                event: "location_select".into()
            })
        );
    }

    #[test]
    fn refuses_duplicates_and_trailing_content() {
        let dup = "<xml><ToUserName>a</ToUserName><ToUserName>c</ToUserName></xml>";
        assert_eq!(
            scan(dup.as_bytes()).err(),
            Some(WechatError::Malformed("duplicate ToUserName".into()))
        );
        let two_roots = "<xml></xml><xml></xml>";
        assert!(matches!(
            scan(two_roots.as_bytes()),
            Err(WechatError::Malformed(_))
        ));
        assert!(matches!(
            scan(b"<xml></xml>junk"),
            Err(WechatError::Malformed(_))
        ));
        assert!(matches!(scan(b""), Err(WechatError::Malformed(_))));
    }

    #[test]
    fn refuses_entity_references_in_attributes_and_stray_declarations() {
        assert!(matches!(
            scan(b"<xml a=\"&xxe;\"></xml>"),
            Err(WechatError::Forbidden(_))
        ));
        assert!(scan(b"<xml a=\"&amp;&#38;\"></xml>").is_ok());
        assert!(matches!(
            scan(b"<!ENTITY x \"y\"><xml/>"),
            Err(WechatError::Forbidden(_))
        ));
        assert!(matches!(
            scan(b"<xml><?php echo 1; ?></xml>"),
            Err(WechatError::Forbidden(_))
        ));
        assert!(matches!(
            scan(b"<xml/><?xml version=\"1.0\"?>"),
            Err(WechatError::Forbidden(_))
        ));
        assert!(scan(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<xml/>").is_ok());
        assert!(matches!(
            scan(b"<xml>&#0;</xml>"),
            Err(WechatError::Malformed(_))
        ));
        assert!(matches!(
            scan(b"<xml>a & b</xml>"),
            Err(WechatError::Malformed(_))
        ));
    }

    #[test]
    fn whitespace_may_precede_the_declaration() {
        assert!(scan(b"\n  <?xml version=\"1.0\"?><xml/>").is_ok());
        assert!(matches!(
            scan(b"<!-- c --><?xml version=\"1.0\"?><xml/>"),
            Err(WechatError::Forbidden(_))
        ));
    }

    #[test]
    fn pushes_serialize_and_deserialize() {
        let xml = "<xml><ToUserName>gh</ToUserName><FromUserName>o</FromUserName><CreateTime>7</CreateTime>\
                   <MsgType>event</MsgType><Event>subscribe</Event><EventKey>qrscene_1</EventKey></xml>";
        let push = parse_push(xml.as_bytes()).unwrap();
        let json = serde_json::to_value(&push).unwrap();
        assert_eq!(json["kind"]["type"], "event");
        assert_eq!(json["kind"]["name"], "subscribe");
        assert_eq!(json["kind"]["event_key"], "qrscene_1");
        assert_eq!(serde_json::from_value::<Push>(json).unwrap(), push);
    }

    #[test]
    fn cdata_builder_splits_terminators_and_drops_illegal_chars() {
        let mut out = String::new();
        push_cdata(&mut out, "a]]>b]]>");
        assert_eq!(out, "<![CDATA[a]]]]><![CDATA[>b]]]]><![CDATA[>]]>");
        let mut out = String::new();
        push_cdata(&mut out, "x\u{1}y\tz");
        assert_eq!(out, "<![CDATA[xy\tz]]>");
        let mut out = String::new();
        push_escaped(&mut out, "1<2&3>0");
        assert_eq!(out, "1&lt;2&amp;3&gt;0");
    }
}
