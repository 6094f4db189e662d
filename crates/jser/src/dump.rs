//! A readable listing of a [`Tree`], one line per grammar element, for logs and the command
//! line.
//!
//! Spec: the element names of JOSS ch. 6.4.1. Items are shown as `#n` (their index in
//! [`Tree::items`]); a reference shows `-> #n` and is not expanded, so the listing is as long
//! as the stream, whatever the sharing.

use std::fmt::Write;

use crate::model::*;
use crate::mutf8::Mutf8;

const MAX_BYTES_SHOWN: usize = 32;

impl Tree {
    /// The listing: each top-level content with its nested values indented below it.
    pub fn dump(&self) -> String {
        let mut d = Dumper { s: self, out: String::new() };
        for (i, c) in self.contents.iter().enumerate() {
            d.content(&format!("contents[{i}]"), c, 0);
        }
        d.out
    }
}

struct Dumper<'a> {
    s: &'a Tree,
    out: String,
}

fn hex_prefix(b: &[u8]) -> String {
    let mut s: String = b.iter().take(MAX_BYTES_SHOWN).map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(" ");
    if b.len() > MAX_BYTES_SHOWN {
        s.push_str(" ...");
    }
    s
}

fn show_prim(p: &Prim) -> String {
    match *p {
        Prim::Byte(v) => format!("byte {v}"),
        Prim::Char(v) => match char::from_u32(u32::from(v)) {
            Some(c) if !c.is_control() => format!("char {c:?}"),
            _ => format!("char \\u{v:04x}"),
        },
        Prim::Double(v) => format!("double {v:?}"),
        Prim::Float(v) => format!("float {v:?}"),
        Prim::Int(v) => format!("int {v}"),
        Prim::Long(v) => format!("long {v}"),
        Prim::Short(v) => format!("short {v}"),
        Prim::Boolean(v) => format!("boolean {}", v != 0),
    }
}

impl Dumper<'_> {
    fn line(&mut self, indent: usize, label: &str, text: &str) {
        let _ = writeln!(self.out, "{:indent$}{label}: {text}", "", indent = indent * 2);
    }

    fn content(&mut self, label: &str, c: &Content, indent: usize) {
        match c {
            Content::Reset => self.line(indent, label, "TC_RESET"),
            Content::Block(b) => {
                let tag = if b.long { "TC_BLOCKDATALONG" } else { "TC_BLOCKDATA" };
                self.line(indent, label, &format!("{tag} {} bytes: {}", b.bytes.len(), hex_prefix(&b.bytes)));
            }
            Content::Value(v) => self.value(label, v, indent),
        }
    }

    fn contents(&mut self, label: &str, contents: &[Content], indent: usize) {
        self.line(indent, label, &format!("{} contents", contents.len()));
        for (i, c) in contents.iter().enumerate() {
            self.content(&format!("[{i}]"), c, indent + 1);
        }
    }

    fn class_name(&self, v: &Value) -> String {
        match self.s.class_desc(v) {
            Some(d) => d.name().map(Mutf8::to_string_lossy).unwrap_or_else(|| "(proxy)".into()),
            None => "?".into(),
        }
    }

    fn value(&mut self, label: &str, v: &Value, indent: usize) {
        crate::grow_stack(|| self.value_inner(label, v, indent))
    }

    fn value_inner(&mut self, label: &str, v: &Value, indent: usize) {
        let id = match v {
            Value::Null => return self.line(indent, label, "null"),
            Value::Exception(inner) => {
                self.line(indent, label, "TC_EXCEPTION (the value being written ends here)");
                return self.value("exception", inner, indent + 1);
            }
            Value::Ref(id) => {
                let what = match self.s.item(*id) {
                    Some(Item::String(s)) => format!("string {:?}", s.text.to_string_lossy()),
                    Some(Item::ClassDesc(d)) => {
                        format!(
                            "class desc {}",
                            d.name().map(Mutf8::to_string_lossy).unwrap_or_else(|| "(proxy)".into())
                        )
                    }
                    Some(other) => format!("{} {}", other.kind(), self.s.class_name_of(v).unwrap_or_default()),
                    None => "missing item".into(),
                };
                return self.line(indent, label, &format!("-> #{} {what}", id.0));
            }
            Value::New(id) => *id,
        };
        let Some(item) = self.s.item(id) else { return self.line(indent, label, &format!("#{} missing item", id.0)) };
        let n = id.0;
        match item {
            Item::String(s) => {
                let tag = if s.long { "long string" } else { "string" };
                self.line(indent, label, &format!("#{n} {tag} {:?}", s.text.to_string_lossy()));
            }
            Item::ClassDesc(d) => {
                match &d.kind {
                    DescKind::Class { name, uid, flags, fields } => {
                        self.line(indent, label, &format!("#{n} class desc {name} uid {uid:#x} flags {flags:#04x}"));
                        for (i, f) in fields.iter().enumerate() {
                            match &f.class_name {
                                None => self.line(
                                    indent + 1,
                                    &format!("field {i}"),
                                    &format!("{} {}", f.type_code as char, f.name),
                                ),
                                Some(t) => {
                                    self.value(&format!("field {i} {} {}", f.type_code as char, f.name), t, indent + 1)
                                }
                            }
                        }
                    }
                    DescKind::Proxy { interfaces } => {
                        let names: Vec<String> = interfaces.iter().map(Mutf8::to_string_lossy).collect();
                        self.line(indent, label, &format!("#{n} proxy class desc [{}]", names.join(", ")));
                    }
                }
                if !d.annotation.is_empty() {
                    self.contents("class annotation", &d.annotation, indent + 1);
                }
                self.value("super", &d.super_class, indent + 1);
            }
            Item::Object(o) => {
                self.line(indent, label, &format!("#{n} object {}", self.class_name(&o.class)));
                self.value("class", &o.class, indent + 1);
                match &o.data {
                    ObjectData::External(c) => self.contents("external data", c, indent + 1),
                    ObjectData::Serial(levels) => {
                        let chain = o.class.item().map(|d| self.s.class_chain(d)).unwrap_or_default();
                        for (cd, level) in levels.iter().zip(chain) {
                            let Some(Item::ClassDesc(ld)) = self.s.item(level) else { continue };
                            let lname = ld.name().map(Mutf8::to_string_lossy).unwrap_or_else(|| "(proxy)".into());
                            for (f, fv) in ld.fields().iter().zip(&cd.values) {
                                let label = format!("{lname}.{}", f.name);
                                match fv {
                                    FieldValue::Prim(p) => self.line(indent + 1, &label, &show_prim(p)),
                                    FieldValue::Object(v) => self.value(&label, v, indent + 1),
                                }
                            }
                            if let Some(a) = &cd.annotation {
                                self.contents(&format!("{lname} writeObject data"), a, indent + 1);
                            }
                        }
                    }
                }
            }
            Item::Array(a) => {
                self.line(indent, label, &format!("#{n} array {} length {}", self.class_name(&a.class), a.length));
                self.value("class", &a.class, indent + 1);
                let shown = match &a.elements {
                    Elements::Object(values) => {
                        for (i, v) in values.iter().enumerate() {
                            self.value(&format!("[{i}]"), v, indent + 1);
                        }
                        return;
                    }
                    Elements::Byte(b) | Elements::Boolean(b) => hex_prefix(b),
                    Elements::Char(v) => format!("{:?}", &v[..v.len().min(MAX_BYTES_SHOWN)]),
                    Elements::Short(v) => format!("{:?}", &v[..v.len().min(MAX_BYTES_SHOWN)]),
                    Elements::Int(v) => format!("{:?}", &v[..v.len().min(MAX_BYTES_SHOWN)]),
                    Elements::Long(v) => format!("{:?}", &v[..v.len().min(MAX_BYTES_SHOWN)]),
                    Elements::Float(v) => format!("{:?}", &v[..v.len().min(MAX_BYTES_SHOWN)]),
                    Elements::Double(v) => format!("{:?}", &v[..v.len().min(MAX_BYTES_SHOWN)]),
                };
                self.line(indent + 1, "elements", &shown);
            }
            Item::Enum(e) => {
                let name = self.s.string(&e.name).unwrap_or_default();
                self.line(indent, label, &format!("#{n} enum {}.{name}", self.class_name(&e.class)));
                self.value("class", &e.class, indent + 1);
            }
            Item::Class(c) => {
                self.line(indent, label, &format!("#{n} class {}", self.class_name(&c.class)));
                self.value("class", &c.class, indent + 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_integer_and_block_data_list_their_fields() {
        let bytes = hex_literal::hex!(
            "aced0005737200116a6176612e6c616e672e496e746567657212e2a0a4f781873802000149000576616c7565787200106a6176612e6c616e672e4e756d62657286ac951d0b94e08b020000787000000000770400000001"
        );
        let s = crate::parse(&bytes).unwrap();
        let d = s.dump();
        assert!(d.contains("contents[0]: #2 object java.lang.Integer"), "{d}");
        assert!(d.contains("java.lang.Integer.value: int 0"), "{d}");
        assert!(d.contains("contents[1]: TC_BLOCKDATA 4 bytes: 00 00 00 01"), "{d}");
    }
}
