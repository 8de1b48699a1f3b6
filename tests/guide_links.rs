//! The guide's links work in both places it is read: on GitHub (docs/extending.md
//! and docs/extending/*.md, links relative to the file) and in rustdoc
//! (`scratchnet::guide`, where src/guide.rs defines the reference links first, so
//! that they go to rustdoc items and anchors instead of paths that do not exist in
//! target/doc). Its commands run on a fresh clone: no path outside the repository.

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The guide's Markdown files, part 1 first.
fn guide_files() -> Vec<PathBuf> {
    let mut files = vec![repo().join("docs/extending.md")];
    let mut parts: Vec<PathBuf> = std::fs::read_dir(repo().join("docs/extending"))
        .expect("docs/extending/ is readable")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    parts.sort();
    files.extend(parts);
    files
}

/// The text outside fenced code blocks.
fn prose(markdown: &str) -> String {
    let mut in_code = false;
    let mut out = String::new();
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        } else if !in_code {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Link reference definitions `[label]: target`, as (label, target).
fn definitions(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let rest = line.trim().strip_prefix('[')?;
            let (label, target) = rest.split_once("]:")?;
            Some((label.to_string(), target.trim().to_string()))
        })
        .collect()
}

/// The targets of inline links `[text](target)`.
fn inline_targets(text: &str) -> Vec<String> {
    text.split("](")
        .skip(1)
        .filter_map(|rest| rest.split_once(')').map(|(target, _)| target.to_string()))
        .collect()
}

/// The labels of reference links `[text][label]`.
fn reference_labels(text: &str) -> Vec<String> {
    text.split("][")
        .skip(1)
        .filter_map(|rest| rest.split_once(']').map(|(label, _)| label.to_string()))
        .collect()
}

/// The anchors of the guide's headings, as rustdoc and GitHub make them: lower
/// case, spaces as `-`, other punctuation dropped.
fn heading_anchors() -> Vec<String> {
    guide_files()
        .iter()
        .flat_map(|file| {
            let text = prose(&std::fs::read_to_string(file).unwrap());
            text.lines()
                .filter_map(|line| line.strip_prefix('#'))
                .map(|heading| {
                    heading
                        .trim_start_matches('#')
                        .trim()
                        .to_lowercase()
                        .chars()
                        .filter_map(|c| match c {
                            ' ' => Some('-'),
                            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                            _ => None,
                        })
                        .collect()
                })
                .collect::<Vec<String>>()
        })
        .collect()
}

fn is_relative_path(target: &str) -> bool {
    !(target.starts_with("http://") || target.starts_with("https://") || target.starts_with('#'))
}

#[test]
fn relative_links_of_the_guide_resolve_on_github() {
    for file in guide_files() {
        let text = prose(&std::fs::read_to_string(&file).expect("the guide is readable"));
        let dir = file.parent().expect("a file in a directory");
        let targets = inline_targets(&text)
            .into_iter()
            .chain(definitions(&text).into_iter().map(|(_, target)| target));
        for target in targets.filter(|target| is_relative_path(target)) {
            let path = target.split('#').next().unwrap_or_default();
            assert!(
                dir.join(path).exists(),
                "{}: the link {target} names no file of the repository",
                file.display()
            );
        }
    }
}

#[test]
fn rustdoc_defines_the_guides_reference_links_before_the_text() {
    let guide_rs = std::fs::read_to_string(repo().join("src/guide.rs")).unwrap();
    let before_text = guide_rs
        .split("include_str!(\"../docs/extending.md\")")
        .next()
        .unwrap();
    // The string literals of the `#![doc = "…"]` attributes before the text.
    let rustdoc_definitions: Vec<(String, String)> = before_text
        .split("#![doc = \"")
        .skip(1)
        .filter_map(|rest| rest.split_once("\"]"))
        .flat_map(|(literal, _)| definitions(&literal.replace("\\n", "\n")))
        .collect();
    for file in guide_files() {
        let text = prose(&std::fs::read_to_string(&file).unwrap());
        // In rustdoc an inline relative link resolves against target/doc/…/guide/.
        let inline: Vec<String> = inline_targets(&text)
            .into_iter()
            .filter(|target| is_relative_path(target))
            .collect();
        assert!(
            inline.is_empty(),
            "{}: {inline:?} break in rustdoc; link by reference and define the label in src/guide.rs",
            file.display()
        );
        for label in reference_labels(&text) {
            let target = rustdoc_definitions
                .iter()
                .find(|(defined, _)| *defined == label)
                .map(|(_, target)| target.as_str());
            if let Some(anchor) = target.and_then(|t| t.strip_prefix('#')) {
                assert!(
                    heading_anchors().iter().any(|heading| heading == anchor),
                    "src/guide.rs: the link [{label}] goes to #{anchor}, which no heading of the guide has"
                );
            }
            assert!(
                target.is_some_and(|t| t.starts_with("crate::") || t.starts_with('#')),
                "{}: the link [{label}] needs a rustdoc definition (an item or an anchor) \
                 in src/guide.rs before the text, not {target:?}",
                file.display()
            );
        }
    }
}

#[test]
fn the_guides_commands_use_no_path_outside_the_repository() {
    for file in guide_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut in_shell = false;
        for line in text.lines() {
            if line.trim_start().starts_with("```") {
                in_shell = line.trim() == "```sh";
            } else if in_shell {
                assert!(
                    !line
                        .split_whitespace()
                        .any(|word| Path::new(word).starts_with("..")),
                    "{}: `{line}` needs a folder outside a fresh clone",
                    file.display()
                );
            }
        }
    }
}
