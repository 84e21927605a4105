#!/usr/bin/env bash
# Regenerates the binary and non-UTF-8 fixtures in this folder (the generated files are committed,
# so tests never need these tools). Needs: bash, iconv (glibc), python3 (standard library only).
#
#   tests/data/make_fixtures.sh            # run from anywhere
#
# Fixtures made here:
#   sample.txt          English plain text (UTF-8)
#   gbk_chinese.txt     Chinese text encoded as GBK        (iconv -f UTF-8 -t GBK)
#   big5_chinese.txt    Traditional Chinese encoded as Big5 (iconv -f UTF-8 -t BIG5)
#   utf16le_bom.txt     UTF-16LE with a byte order mark     (iconv -t UTF-16LE, BOM prepended)
#   sample.md           Markdown with headings, list, quote, code, Chinese and English
#   sample.html         HTML with script/style/nav/header/footer/aside that must be dropped
#   multipage.pdf       3 pages, distinct text per page, /Title in the info dictionary, a running
#                       header and page-number footers (which the parser drops)
#   encrypted.pdf       RC4-40 (standard security handler R2), user password "secret"
#   notext.pdf          one page with a filled rectangle and no text
#   sample.docx         hand-written WordprocessingML zipped with python's zipfile
#   notdocx.zip         a zip archive without word/document.xml
#   zipbomb.docx        word/document.xml of 210 MB of spaces, bzip2-compressed (a few hundred bytes)
#   junk.txt            4 KiB of seeded pseudo-random bytes
#   empty.txt           zero bytes
#
# The PDFs are written by hand (python below): Helvetica text, one content stream per page, a
# correct xref table. encrypted.pdf implements PDF 1.7 section 7.6.3 algorithms 2-4 (RC4, 40-bit
# key) so no PDF tool is required.
set -euo pipefail
cd "$(dirname "$0")"

# ---- plain text -----------------------------------------------------------------------------
cat > sample.txt <<'EOF'
Getting Started with deepkb

deepkb keeps your documents on your own machines. It parses each file,
splits the text into chunks and indexes them for keyword and vector
search.

Plain text files are split into paragraphs at blank lines. Lines inside
a paragraph are joined   with single spaces.

The last paragraph ends the file.
EOF

cat > /tmp/deepkb_gbk_src.txt <<'EOF'
知识库简介

数据库是按照数据结构来组织、存储和管理数据的仓库。知识库在数据库之上增加了文档解析、分段和检索功能。

用户可以把文档导入知识库，系统会自动识别文件的字符编码，
并把文本切分成段落，方便后续的全文检索和向量检索。
EOF
iconv -f UTF-8 -t GBK /tmp/deepkb_gbk_src.txt > gbk_chinese.txt

cat > /tmp/deepkb_big5_src.txt <<'EOF'
知識庫簡介

資料庫是按照資料結構來組織、儲存和管理資料的倉庫。知識庫在資料庫之上增加了文件解析、分段和檢索功能。

使用者可以把文件匯入知識庫，系統會自動識別檔案的字元編碼。
EOF
iconv -f UTF-8 -t BIG5 /tmp/deepkb_big5_src.txt > big5_chinese.txt

{
  printf '\xff\xfe'
  printf 'UTF-16 Sample\n\nHello 你好, this file is UTF-16LE with a BOM.\n' | iconv -f UTF-8 -t UTF-16LE
} > utf16le_bom.txt
rm -f /tmp/deepkb_gbk_src.txt /tmp/deepkb_big5_src.txt

# ---- markdown and html ----------------------------------------------------------------------
cat > sample.md <<'EOF'
# 知识库指南

deepkb turns your **documents** into a searchable
knowledge base.

## Installation

- Install the package
- Run `deepkb serve`

> Quoted advice: back up the data folder.

```
deepkb ingest ./docs
```

### 中文段落

数据库是按照数据结构来组织、存储和管理数据的仓库。
知识库支持中文检索。

Setext Heading
--------------

Final paragraph with a [link](https://example.com).
EOF

cat > sample.html <<'EOF'
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Sample Page &amp; Title</title>
<style>body { color: red; } .STYLE_TEXT {}</style>
<script>var secret = "SCRIPT_TEXT";</script>
</head>
<body>
<nav><a href="/">NAV_TEXT Home</a> | <a href="/about">About</a></nav>
<header><a href="/">HEADER_TEXT Logo</a></header>
<main>
<h1>Main Heading</h1>
<p>First paragraph with <b>bold</b> and an entity: caf&eacute; &amp; more.</p>
<div>Loose div text<p>Nested paragraph.</p>Tail text</div>
<ul><li>Item one</li><li>Item two</li></ul>
<h2>Second <em>Section</em></h2>
<p>中文内容：知识库。</p>
<table><tr><td>Cell A</td><td>Cell B</td></tr></table>
<p>Line one<br>Line two</p>
<div hidden>HIDDEN_TEXT</div>
<form><input type="text"><button>BUTTON_TEXT</button></form>
</main>
<aside>ASIDE_TEXT</aside>
<footer>FOOTER_TEXT</footer>
<script>document.write("SCRIPT_TEXT2");</script>
<noscript>NOSCRIPT_TEXT</noscript>
<template><p>TEMPLATE_TEXT</p></template>
<svg><text>SVG_TEXT</text></svg>
</body>
</html>
EOF

# ---- binary fixtures (python, standard library only) --------------------------------------
python3 - <<'PYEOF'
import hashlib, random, struct, zipfile

# -- PDF -----------------------------------------------------------------------------------
PAD = bytes.fromhex("28BF4E5E4E758A4164004E56FFFA01082E2E00B6D0683E802F0CA9FE6453697A")

def rc4(key, data):
    s = list(range(256))
    j = 0
    for i in range(256):
        j = (j + s[i] + key[i % len(key)]) % 256
        s[i], s[j] = s[j], s[i]
    out = bytearray()
    i = j = 0
    for b in data:
        i = (i + 1) % 256
        j = (j + s[i]) % 256
        s[i], s[j] = s[j], s[i]
        out.append(b ^ s[(s[i] + s[j]) % 256])
    return bytes(out)

def esc(text):
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

def page_stream(paragraphs, header=None, footer=None):
    """paragraphs: list of (font_size, [lines]); a gap separates paragraphs. header/footer:
    9-point running header and page-number footer lines."""
    y = 740
    ops = []
    if header:
        ops.append(f"BT /F1 9 Tf 72 770 Td ({esc(header)}) Tj ET")
    if footer:
        ops.append(f"BT /F1 9 Tf 300 40 Td ({esc(footer)}) Tj ET")
    for size, lines in paragraphs:
        for line in lines:
            ops.append(f"BT /F1 {size} Tf 72 {y} Td ({esc(line)}) Tj ET")
            y -= size + 4
        y -= 14
    return ("\n".join(ops) + "\n").encode("latin-1")

def write_pdf(path, streams, title=None, user_pw=None, owner_pw=None):
    n = len(streams)
    first_page = 4
    info_num = first_page + 2 * n
    enc_num = info_num + 1
    file_id = hashlib.md5(path.encode()).digest()
    key = None
    if user_pw is not None:
        perms = -44  # print + copy bits per R2; value is irrelevant to the test
        upad = (user_pw.encode() + PAD)[:32]
        opad = ((owner_pw or user_pw).encode() + PAD)[:32]
        o_val = rc4(hashlib.md5(opad).digest()[:5], upad)
        key = hashlib.md5(upad + o_val + struct.pack("<i", perms) + file_id).digest()[:5]
        u_val = rc4(key, PAD)

    def enc(num, data):
        if key is None:
            return data
        k = hashlib.md5(key + num.to_bytes(3, "little") + b"\x00\x00").digest()[: len(key) + 5]
        return rc4(k, data)

    objs = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: ("<< /Type /Pages /Kids [%s] /Count %d >>" % (
            " ".join("%d 0 R" % (first_page + 2 * i) for i in range(n)), n)).encode(),
        3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    }
    for i, content in enumerate(streams):
        p, c = first_page + 2 * i, first_page + 2 * i + 1
        objs[p] = ("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                   "/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % c).encode()
        data = enc(c, content)
        objs[c] = b"<< /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"
    trailer_extra = b""
    if title is not None:
        t = enc(info_num, title.encode("latin-1"))
        objs[info_num] = b"<< /Title <" + t.hex().encode() + b"> /Producer <" + \
            enc(info_num, b"deepkb make_fixtures.sh").hex().encode() + b"> >>"
        trailer_extra += b" /Info %d 0 R" % info_num
    if key is not None:
        objs[enc_num] = ("<< /Filter /Standard /V 1 /R 2 /O <%s> /U <%s> /P %d >>" % (
            o_val.hex(), u_val.hex(), perms)).encode()
        trailer_extra += b" /Encrypt %d 0 R" % enc_num
    size = max(objs) + 1
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for num in sorted(objs):
        offsets[num] = len(out)
        out += b"%d 0 obj\n" % num + objs[num] + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    for num in range(1, size):
        if num in offsets:
            out += b"%010d 00000 n \n" % offsets[num]
        else:
            out += b"0000000000 65535 f \n"
    out += b"trailer\n<< /Size %d /Root 1 0 R%s /ID [<%s> <%s>] >>\nstartxref\n%d\n%%%%EOF\n" % (
        size, trailer_extra, file_id.hex().encode(), file_id.hex().encode(), xref)
    with open(path, "wb") as f:
        f.write(out)

pages = [
    page_stream([
        (18, ["Chapter One: Storage"]),
        (11, ["The knowledge base keeps every document in SQLite, which is the single",
              "source of truth for all collections."]),
        (11, ["Alpha paragraph two sits on the first page."]),
    ], header="deepkb manual, draft 2", footer="1"),
    page_stream([
        (11, ["Page two explains vector search with HNSW graphs and filtered",
              "queries over the collection."]),
        (11, ["Bravo paragraph closes the second page."]),
    ], header="deepkb manual, draft 2", footer="2"),
    page_stream([
        (11, ["The third page covers synchronisation between nodes."]),
    ], header="deepkb manual, draft 2", footer="Page 3"),
]
write_pdf("multipage.pdf", pages, title="Multipage Sample")
write_pdf("encrypted.pdf", [page_stream([(11, ["Secret text behind a password."])])],
          title="Encrypted", user_pw="secret", owner_pw="owner")
write_pdf("notext.pdf", [b"0.9 0.1 0.1 rg 100 500 200 150 re f\n"])

# -- DOCX ------------------------------------------------------------------------------------
W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
content_types = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>
<Override PartName="/word/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml"/>
<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>
</Types>"""
rels = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>
<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/>
</Relationships>"""
# Style "a3" imitates a localized Word: its id says nothing, its name says "heading 3".
styles = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:styles {W}>
<w:style w:type="paragraph" w:styleId="Heading1"><w:name w:val="heading 1"/><w:pPr><w:outlineLvl w:val="0"/></w:pPr></w:style>
<w:style w:type="paragraph" w:styleId="Heading2"><w:name w:val="heading 2"/><w:pPr><w:outlineLvl w:val="1"/></w:pPr></w:style>
<w:style w:type="paragraph" w:styleId="a3"><w:name w:val="heading 3"/></w:style>
<w:style w:type="paragraph" w:styleId="Title"><w:name w:val="Title"/></w:style>
</w:styles>"""
document = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document {W} xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006">
<w:body>
<w:p><w:pPr><w:pStyle w:val="Title"/></w:pPr><w:r><w:t>Document Title Paragraph</w:t></w:r></w:p>
<w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>Introduction</w:t></w:r></w:p>
<w:p><w:r><w:t xml:space="preserve">The first paragraph </w:t></w:r><w:r><w:rPr><w:b/></w:rPr><w:t>has bold</w:t></w:r><w:r><w:t xml:space="preserve"> text.</w:t></w:r></w:p>
<w:p><w:r><w:t>Before tab</w:t><w:tab/><w:t>after tab</w:t><w:br/><w:t>after break</w:t></w:r></w:p>
<w:p><w:pPr><w:pStyle w:val="Heading2"/></w:pPr><w:r><w:t>中文章节</w:t></w:r></w:p>
<w:p><w:r><w:t>数据库是按照数据结构来组织、存储和管理数据的仓库。</w:t></w:r></w:p>
<w:p><w:pPr><w:pStyle w:val="a3"/></w:pPr><w:r><w:t>Localized Heading</w:t></w:r></w:p>
<w:p><w:pPr><w:outlineLvl w:val="3"/></w:pPr><w:r><w:t>Outline Level Heading</w:t></w:r></w:p>
<w:tbl><w:tr><w:tc><w:p><w:r><w:t>Cell one</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>Cell two</w:t></w:r></w:p></w:tc></w:tr></w:tbl>
<w:p><w:r><w:delText>DELETED_TEXT</w:delText></w:r><w:r><w:t>Kept after deletion.</w:t></w:r></w:p>
<w:sectPr/>
</w:body>
</w:document>"""
core = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/">
<dc:title>Sample DOCX 文档</dc:title>
</cp:coreProperties>"""

def write_zip(path, entries, compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression) as z:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = compression
            z.writestr(info, data)

write_zip("sample.docx", [
    ("[Content_Types].xml", content_types), ("_rels/.rels", rels),
    ("word/document.xml", document), ("word/styles.xml", styles), ("docProps/core.xml", core)])

# A well-formed zip that is not a DOCX.
write_zip("notdocx.zip", [("readme.txt", "This zip archive has no word/document.xml.\n")])

# A zip bomb: 210 MB of spaces after a valid XML prefix; bzip2 shrinks it to a few hundred bytes.
bomb = b'<?xml version="1.0"?><w:document ' + W.encode() + b'><w:body>' + b" " * (210 << 20)
write_zip("zipbomb.docx", [("[Content_Types].xml", content_types), ("word/document.xml", bomb)],
          compression=zipfile.ZIP_BZIP2)

# -- junk and empty ---------------------------------------------------------------------------
rng = random.Random(20240601)
junk = bytearray(rng.getrandbits(8) for _ in range(4096))
junk[100] = 0  # make sure there is a NUL, whatever the generator does
with open("junk.txt", "wb") as f:
    f.write(bytes(junk))
open("empty.txt", "wb").close()
PYEOF

ls -l sample.txt gbk_chinese.txt big5_chinese.txt utf16le_bom.txt sample.md sample.html \
  multipage.pdf encrypted.pdf notext.pdf sample.docx notdocx.zip zipbomb.docx junk.txt empty.txt
