//! Compiles `proto/twostep/v1/*.proto` without a system `protoc`: `protox` parses the
//! files into a descriptor set, `tonic-prost-build` generates messages, clients and
//! servers from it, and the encoded descriptor set is written for server reflection.
//!
//! It also keeps secrets out of `Debug` output: every message with a field that holds a
//! password, code, token, ticket, API key, secret or full phone number gets a generated
//! `Debug` impl that prints those fields as redacted. And it fails the build if a
//! response message could ever carry a code, a password, a secret or a full phone number.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use prost::Message as _;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FieldDescriptorProto, FileDescriptorSet};

type BuildResult<T> = Result<T, Box<dyn std::error::Error>>;

/// Proto package compiled by this crate.
const PACKAGE: &str = "twostep.v1";

/// String fields with these names hold secrets or personal data that must never reach a
/// log line through `Debug`.
const SECRET_FIELDS: &[&str] = &[
    "access_token",
    "api_key",
    "backup_code",
    "backup_codes",
    "code",
    "codes",
    "current_password",
    "login",
    "new_password",
    "password",
    "phone_number",
    "refresh_token",
    "secrets",
    "ticket",
];

/// String fields with these names must never appear in a message reachable from a
/// response: the API never returns a code, a password, a secret or a full phone number.
const NEVER_IN_RESPONSES: &[&str] = &[
    "code",
    "current_password",
    "new_password",
    "password",
    "phone_number",
    "secrets",
];

fn main() -> BuildResult<()> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let proto_root = manifest_dir.join("../../proto").canonicalize()?;
    let proto_dir = proto_root.join("twostep/v1");

    println!("cargo:rerun-if-changed={}", proto_dir.display());
    let files = proto_files(&proto_dir)?;
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }

    let fds = protox::compile(&files, [&proto_root])?;
    std::fs::write(out_dir.join("twostep_descriptor.bin"), fds.encode_to_vec())?;

    let messages = collect_messages(&fds);
    check_responses(&messages)?;
    let redacted = redacted_messages(&messages);
    std::fs::write(
        out_dir.join("twostep_redacted_debug.rs"),
        redacted_debug_impls(&messages, &redacted)?,
    )?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .emit_rerun_if_changed(false)
        .skip_debug(redacted.iter().map(|name| format!(".{PACKAGE}.{name}")))
        .compile_fds(fds)?;
    Ok(())
}

/// The `.proto` files of the package directory, sorted for reproducible output.
fn proto_files(dir: &Path) -> BuildResult<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "proto") {
            files.push(path);
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(format!("no .proto files in {}", dir.display()).into());
    }
    Ok(files)
}

/// Top-level messages of the package, by name. The API uses no nested messages (other
/// than map entries); `redacted_debug_impls` refuses them so that no secret-bearing
/// message can escape redaction.
fn collect_messages(fds: &FileDescriptorSet) -> BTreeMap<String, DescriptorProto> {
    fds.file
        .iter()
        .filter(|file| file.package() == PACKAGE)
        .flat_map(|file| file.message_type.iter())
        .map(|message| (message.name().to_owned(), message.clone()))
        .collect()
}

fn is_string(field: &FieldDescriptorProto) -> bool {
    field.r#type() == Type::String
}

fn is_map_entry(message: &DescriptorProto, field: &FieldDescriptorProto) -> bool {
    field.r#type() == Type::Message
        && field.label() == Label::Repeated
        && message.nested_type.iter().any(|nested| {
            nested
                .options
                .as_ref()
                .is_some_and(|options| options.map_entry())
                && field.type_name().ends_with(&format!(".{}", nested.name()))
        })
}

fn is_secret(message: &DescriptorProto, field: &FieldDescriptorProto) -> bool {
    SECRET_FIELDS.contains(&field.name()) && (is_string(field) || is_map_entry(message, field))
}

/// Name of the package-local message a field refers to, if any (map entries excluded).
fn local_message_type(field: &FieldDescriptorProto) -> Option<&str> {
    if field.r#type() != Type::Message {
        return None;
    }
    field.type_name().strip_prefix(&format!(".{PACKAGE}."))
}

/// Name of the package-local enum a singular field holds, if any.
fn local_enum_type(field: &FieldDescriptorProto) -> Option<&str> {
    if field.r#type() != Type::Enum || field.label() == Label::Repeated {
        return None;
    }
    field.type_name().strip_prefix(&format!(".{PACKAGE}."))
}

/// Fails when a message reachable from a `…Response` has a forbidden field.
fn check_responses(messages: &BTreeMap<String, DescriptorProto>) -> BuildResult<()> {
    let mut seen = BTreeSet::new();
    let mut todo: Vec<&str> = messages
        .keys()
        .filter(|name| name.ends_with("Response"))
        .map(String::as_str)
        .collect();
    while let Some(name) = todo.pop() {
        if !seen.insert(name) {
            continue;
        }
        let Some(message) = messages.get(name) else {
            continue;
        };
        for field in &message.field {
            if NEVER_IN_RESPONSES.contains(&field.name())
                && (is_string(field) || is_map_entry(message, field))
            {
                return Err(format!(
                    "{name}.{} is reachable from a response; responses never carry codes, \
                     passwords, secrets or full phone numbers",
                    field.name()
                )
                .into());
            }
            if let Some(child) = local_message_type(field) {
                todo.push(child);
            }
        }
    }
    Ok(())
}

/// Messages that get a redacting `Debug` impl instead of the derived one.
fn redacted_messages(messages: &BTreeMap<String, DescriptorProto>) -> BTreeSet<String> {
    messages
        .iter()
        .filter(|(_, message)| message.field.iter().any(|field| is_secret(message, field)))
        .map(|(name, _)| name.clone())
        .collect()
}

/// `StartLoginRequest` -> `start_login_request` (prost's module name for nested types).
fn snake_case(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `current_password` -> `CurrentPassword` (prost's oneof enum and variant names).
fn upper_camel(name: &str) -> String {
    name.split('_')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

/// Rust identifier prost generates for a field.
fn field_ident(name: &str) -> String {
    const KEYWORDS: &[&str] = &[
        "as", "async", "await", "box", "break", "const", "continue", "crate", "dyn", "else",
        "enum", "extern", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod",
        "move", "mut", "pub", "ref", "return", "static", "struct", "trait", "try", "type",
        "unsafe", "use", "where", "while", "yield",
    ];
    if KEYWORDS.contains(&name) {
        format!("r#{name}")
    } else {
        name.to_owned()
    }
}

/// Generates `Debug` impls for the redacted messages and their oneof enums.
fn redacted_debug_impls(
    messages: &BTreeMap<String, DescriptorProto>,
    redacted: &BTreeSet<String>,
) -> BuildResult<String> {
    let mut out = String::from("// @generated by build.rs: redacting Debug impls.\n");
    for name in redacted {
        let Some(message) = messages.get(name) else {
            continue;
        };
        let has_real_nested = message.nested_type.iter().any(|nested| {
            !nested
                .options
                .as_ref()
                .is_some_and(|options| options.map_entry())
        });
        if has_real_nested {
            return Err(format!("{name}: nested messages are not supported by build.rs").into());
        }

        let module = snake_case(name);
        writeln!(out, "impl ::core::fmt::Debug for {name} {{")?;
        writeln!(
            out,
            "    fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {{"
        )?;
        writeln!(out, "        f.debug_struct(\"{name}\")")?;
        let mut oneofs_done = BTreeSet::new();
        for field in &message.field {
            if let Some(index) = field.oneof_index.filter(|_| !field.proto3_optional()) {
                if oneofs_done.insert(index) {
                    let oneof = &message.oneof_decl[usize::try_from(index)?];
                    writeln!(
                        out,
                        "            .field(\"{0}\", &self.{1})",
                        oneof.name(),
                        field_ident(oneof.name())
                    )?;
                }
                continue;
            }
            let ident = field_ident(field.name());
            if is_secret(message, field) {
                writeln!(
                    out,
                    "            .field(\"{0}\", &crate::redact::Redacted(&self.{1}))",
                    field.name(),
                    ident
                )?;
            } else if let Some(enum_type) = local_enum_type(field) {
                writeln!(
                    out,
                    "            .field(\"{0}\", &crate::redact::EnumField::<{1}>::new(self.{2}))",
                    field.name(),
                    enum_type,
                    ident
                )?;
            } else {
                writeln!(
                    out,
                    "            .field(\"{0}\", &self.{1})",
                    field.name(),
                    ident
                )?;
            }
        }
        writeln!(out, "            .finish()")?;
        writeln!(out, "    }}")?;
        writeln!(out, "}}")?;

        for (index, oneof) in message.oneof_decl.iter().enumerate() {
            let members: Vec<&FieldDescriptorProto> = message
                .field
                .iter()
                .filter(|field| {
                    !field.proto3_optional()
                        && field.oneof_index.and_then(|i| usize::try_from(i).ok()) == Some(index)
                })
                .collect();
            if members.is_empty() {
                continue; // synthetic oneof of a proto3 `optional` field
            }
            let enum_name = upper_camel(oneof.name());
            writeln!(out, "impl ::core::fmt::Debug for {module}::{enum_name} {{")?;
            writeln!(
                out,
                "    fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {{"
            )?;
            writeln!(out, "        match self {{")?;
            for field in members {
                let variant = upper_camel(field.name());
                if is_secret(message, field) {
                    writeln!(
                        out,
                        "            Self::{variant}(value) => f.debug_tuple(\"{variant}\").field(&crate::redact::Redacted(value)).finish(),"
                    )?;
                } else {
                    writeln!(
                        out,
                        "            Self::{variant}(value) => f.debug_tuple(\"{variant}\").field(value).finish(),"
                    )?;
                }
            }
            writeln!(out, "        }}")?;
            writeln!(out, "    }}")?;
            writeln!(out, "}}")?;
        }
    }
    Ok(out)
}
