//! The README is the front door and `docs/` holds the rest, one page per topic
//! (docs/development.md, "Documentation"). Checked on the files: the README
//! stays within 20 KiB; every relative link in the README and in `docs/*.md`
//! names a file inside this repository and, with a `#anchor`, a heading of that
//! file whose GitHub-style slug is the anchor; and the README links every page
//! of `docs/`, so none is orphaned. Links are read from prose, not from code
//! (fenced blocks and inline code spans are skipped).

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

/// The README's size limit in bytes.
const README_MAX_BYTES: u64 = 20 * 1024;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `docs/*.md` pages, sorted.
fn docs_pages(root: &Path) -> Vec<PathBuf> {
    let mut pages: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    pages
}

/// The lines of `text` outside fenced code blocks (``` or ~~~).
fn prose_lines(text: &str) -> Vec<&str> {
    let mut fence: Option<&str> = None;
    let mut out = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        match fence {
            Some(marker) => {
                if trimmed.starts_with(marker) {
                    fence = None;
                }
            }
            None if trimmed.starts_with("```") => fence = Some("```"),
            None if trimmed.starts_with("~~~") => fence = Some("~~~"),
            None => out.push(line),
        }
    }
    out
}

/// `line` with its inline code spans removed: a run of N backticks up to the
/// next run of exactly N. An unmatched run stays as it is.
fn without_code_spans(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let run_at = |i: usize| chars[i..].iter().take_while(|c| **c == '`').count();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '`' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let n = run_at(i);
        let mut j = i + n;
        let mut close = None;
        while j < chars.len() {
            if chars[j] == '`' {
                let m = run_at(j);
                if m == n {
                    close = Some(j + m);
                    break;
                }
                j += m;
            } else {
                j += 1;
            }
        }
        match close {
            Some(end) => i = end,
            None => {
                out.extend(&chars[i..i + n]);
                i += n;
            }
        }
    }
    out
}

/// The targets of the inline links `[text](target)` (and images) in the prose
/// of `text`, in order. A title after the target (`"…"`) and `<…>` around it
/// are dropped.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    for line in prose_lines(text) {
        let line = without_code_spans(line);
        let mut rest = line.as_str();
        while let Some(at) = rest.find("](") {
            let before = &rest[..at];
            let after = &rest[at + 2..];
            rest = after;
            // The `]` must close a `[` on the same line.
            let mut depth = 0usize;
            let opened = before.chars().rev().any(|c| match c {
                ']' => {
                    depth += 1;
                    false
                }
                '[' if depth == 0 => true,
                '[' => {
                    depth -= 1;
                    false
                }
                _ => false,
            });
            if !opened {
                continue;
            }
            let mut depth = 0usize;
            let mut end = None;
            for (i, c) in after.char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' if depth == 0 => {
                        end = Some(i);
                        break;
                    }
                    ')' => depth -= 1,
                    _ => {}
                }
            }
            let Some(end) = end else { continue };
            let raw = after[..end].trim();
            let raw = raw
                .strip_prefix('<')
                .and_then(|r| r.split('>').next())
                .unwrap_or_else(|| raw.split_whitespace().next().unwrap_or(""));
            targets.push(raw.to_string());
            rest = &after[end + 1..];
        }
    }
    targets
}

fn is_external(target: &str) -> bool {
    ["http://", "https://", "mailto:"]
        .iter()
        .any(|scheme| target.to_ascii_lowercase().starts_with(scheme))
}

/// GitHub's anchor for a heading's text: lower case, spaces to `-`, every
/// character but letters, digits, `-` and `_` dropped.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .chars()
        .flat_map(char::to_lowercase)
        .filter_map(|c| match c {
            ' ' => Some('-'),
            '-' | '_' => Some(c),
            c if c.is_alphanumeric() => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a markdown file's headings (ATX `#`…`######`, outside code);
/// a repeated slug gets `-1`, `-2`, … as on GitHub.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in prose_lines(text) {
        let hashes = line.chars().take_while(|c| *c == '#').count();
        if !(1..=6).contains(&hashes) {
            continue;
        }
        let rest = &line[hashes..];
        if !(rest.is_empty() || rest.starts_with(' ')) {
            continue;
        }
        let title = rest.trim().trim_end_matches('#').trim();
        let base = slug(title);
        let mut anchor = base.clone();
        let mut n = 0;
        while out.contains(&anchor) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
        out.insert(anchor);
    }
    out
}

/// `path` with `.` and `..` resolved, without touching the file system.
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// The file a relative link from `from` names (its `#anchor` dropped).
fn resolve(from: &Path, target: &str) -> PathBuf {
    let path = target.split('#').next().unwrap_or("");
    if path.is_empty() {
        return from.to_path_buf();
    }
    normalise(&from.parent().unwrap().join(path))
}

/// What is wrong with each relative link in `text`, a file at `from` in the
/// repository at `root`: one line per broken link, empty when all resolve.
fn broken_links(from: &Path, text: &str, root: &Path) -> Vec<String> {
    let shown = from
        .strip_prefix(root)
        .unwrap_or(from)
        .display()
        .to_string();
    let mut broken = Vec::new();
    for target in link_targets(text) {
        if is_external(&target) {
            continue;
        }
        if target.is_empty() {
            broken.push(format!("{shown}: an empty link target"));
            continue;
        }
        let file = resolve(from, &target);
        if !file.starts_with(root) {
            broken.push(format!("{shown}: {target} leaves the repository"));
            continue;
        }
        if !file.exists() {
            broken.push(format!("{shown}: {target}: no such file"));
            continue;
        }
        let Some((_, anchor)) = target.split_once('#') else {
            continue;
        };
        if file.extension().is_none_or(|e| e != "md") {
            broken.push(format!(
                "{shown}: {target}: an anchor into a file that is not markdown"
            ));
            continue;
        }
        let headings = anchors(&std::fs::read_to_string(&file).unwrap());
        if !headings.contains(anchor) {
            broken.push(format!(
                "{shown}: {target}: no heading with the anchor #{anchor}"
            ));
        }
    }
    broken
}

#[test]
fn the_readme_is_at_most_20_kib() {
    let size = std::fs::metadata(root().join("README.md")).unwrap().len();
    assert!(
        size <= README_MAX_BYTES,
        "README.md is {size} bytes, more than {README_MAX_BYTES}: move the detail to a page in docs/"
    );
}

#[test]
fn every_relative_link_in_the_readme_and_docs_resolves() {
    let root = root();
    let mut files = vec![root.join("README.md")];
    files.extend(docs_pages(&root));
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        checked += link_targets(&text).len();
        broken.extend(broken_links(file, &text, &root));
    }
    assert!(
        checked > 50,
        "only {checked} links found: is the parser reading them?"
    );
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn every_docs_page_is_linked_from_the_readme() {
    let root = root();
    let readme_path = root.join("README.md");
    let readme = std::fs::read_to_string(&readme_path).unwrap();
    let linked: BTreeSet<PathBuf> = link_targets(&readme)
        .iter()
        .filter(|t| !is_external(t))
        .map(|t| resolve(&readme_path, t))
        .collect();
    let orphans: Vec<String> = docs_pages(&root)
        .into_iter()
        .filter(|page| !linked.contains(page))
        .map(|page| page.strip_prefix(&root).unwrap().display().to_string())
        .collect();
    assert!(
        orphans.is_empty(),
        "docs pages the README does not link (add them to its \"Documentation\" index): {orphans:?}"
    );
}

/// The checker itself: a planted text with a missing page, a missing heading,
/// a link out of the repository and a bare anchor that names nothing is
/// reported line by line, while good links, external links and links inside
/// code are not.
#[test]
fn the_link_checker_catches_broken_links() {
    let root = root();
    let from = root.join("README.md");
    let planted = "\
See [a missing page](docs/no-such-page.md), [a missing heading](docs/performance.md#no-such-heading),
[outside](../elsewhere/notes.md) and [here](#nowhere-in-the-readme).
Good: [budget](docs/performance.md#the-budget), [page](docs/call-flow.md), [web](https://example.com/x.md).
Not links: `[code](docs/in-code.md)` and
```md
[fenced](docs/in-a-fence.md)
```
";
    let broken = broken_links(&from, planted, &root);
    assert_eq!(broken.len(), 4, "{broken:#?}");
    for needle in [
        "docs/no-such-page.md: no such file",
        "docs/performance.md#no-such-heading: no heading",
        "../elsewhere/notes.md leaves the repository",
        "#nowhere-in-the-readme: no heading",
    ] {
        assert!(
            broken.iter().any(|b| b.contains(needle)),
            "{needle:?} not reported in {broken:#?}"
        );
    }

    assert_eq!(
        slug("Load test (`switchboard loadtest`)"),
        "load-test-switchboard-loadtest"
    );
    assert_eq!(
        slug("Node client protocol (`GET /supervisor`)"),
        "node-client-protocol-get-supervisor"
    );
    assert_eq!(slug("The owner's inbox"), "the-owners-inbox");
    assert_eq!(
        slug("Locking down a cluster's NATS"),
        "locking-down-a-clusters-nats"
    );
    assert_eq!(
        slug("snake_case and kebab-case"),
        "snake_case-and-kebab-case"
    );
    let twice = anchors("# Notes\n## Setup\n```\n# not a heading\n```\n## Setup\n");
    let expected: BTreeSet<String> = ["notes", "setup", "setup-1"].map(String::from).into();
    assert_eq!(twice, expected);
    assert_eq!(
        link_targets("[a](x.md \"title\") [b](<y z.md>) [c](f(1).md) ]( no opener"),
        ["x.md", "y z.md", "f(1).md"]
    );
}
