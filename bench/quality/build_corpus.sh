#!/usr/bin/env bash
# Builds the retrieval-quality corpus: every Chinese manual page of the Debian package
# manpages-zh rendered to plain UTF-8 text, one file per page.
#
#   bench/quality/build_corpus.sh [OUT_DIR] [MAN_DIR]
#     OUT_DIR  default /tmp/deepkb-quality/corpus   (emptied first)
#     MAN_DIR  default /usr/share/man/zh_CN
#
# Output: OUT_DIR/<section>/<name>.<n>.txt, e.g. OUT_DIR/man1/ls.1.txt. When OUT_DIR is
# ingested recursively (`deepkb ingest OUT_DIR --recursive`, or quality_eval --corpus OUT_DIR),
# the document ids are "<basename of OUT_DIR>/<section>/<name>.<n>.txt" — with the default
# OUT_DIR that is "corpus/man1/ls.1.txt", the form used in queries.tsv.
#
# Rendering: groff's man macros to the utf8 device, with adjustment (.na) and hyphenation (.nh)
# switched off so that groff does not pad Chinese lines with runs of spaces or split words,
# a 120-column line length, then `col -bx` to drop overstrike bold/underline and tabs.
# Symbolic links (aliases of another page, e.g. man8/swapoff.8 -> swapon.8) are skipped so
# that each text appears once. The output is deterministic for a given manpages-zh version.
set -euo pipefail

OUT_DIR="${1:-/tmp/deepkb-quality/corpus}"
MAN_DIR="${2:-/usr/share/man/zh_CN}"

for tool in groff col zcat; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "build_corpus: '$tool' not found; install groff-base, bsdextrautils and gzip" >&2
    exit 1
  fi
done
if ! compgen -G "$MAN_DIR/man*/*.gz" >/dev/null; then
  echo "build_corpus: no manual pages under $MAN_DIR; install manpages-zh" \
       "(scripts/install-deps.sh), and check that dpkg does not exclude /usr/share/man" >&2
  exit 1
fi
case "$OUT_DIR" in
  ""|"/") echo "build_corpus: refusing to use '$OUT_DIR' as the output folder" >&2; exit 2 ;;
esac

# col and groff must see UTF-8.
export LC_ALL=C.UTF-8

rm -rf -- "$OUT_DIR"
mkdir -p -- "$OUT_DIR"

pages=0
skipped_links=0
empty=0
while IFS= read -r -d '' src; do
  if [ -L "$src" ]; then
    skipped_links=$((skipped_links + 1))
    continue
  fi
  section="$(basename "$(dirname "$src")")"     # man1
  name="$(basename "$src" .gz)"                  # ls.1
  mkdir -p -- "$OUT_DIR/$section"
  dst="$OUT_DIR/$section/$name.txt"
  # groff warnings (e.g. "can't break line") are harmless for plain-text extraction.
  { printf '.na\n.nh\n'; zcat -- "$src"; } \
    | groff -K utf-8 -Tutf8 -mandoc -rLL=120n 2>/dev/null \
    | col -bx > "$dst"
  if ! grep -q '[^[:space:]]' "$dst"; then
    echo "build_corpus: $src rendered to nothing; left out" >&2
    rm -f -- "$dst"
    empty=$((empty + 1))
    continue
  fi
  pages=$((pages + 1))
done < <(find "$MAN_DIR" -path "$MAN_DIR/man*/*.gz" -print0 | sort -z)

bytes="$(du -sb -- "$OUT_DIR" | cut -f1)"
echo "build_corpus: $pages pages in $OUT_DIR ($bytes bytes; $skipped_links alias links and" \
     "$empty empty pages left out)"
