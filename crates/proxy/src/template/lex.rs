//! Tokenizer: splits the source into text and the tokens inside actions.
//!
//! The whole source is tokenized up front (parsing happens once, at load
//! time, so the allocation does not matter) which keeps the parser simple.

use super::{ParseError, Pos};

/// One token, with the byte offset where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub(crate) kind: Tok,
    pub(crate) offset: usize,
    /// Whether whitespace preceded it inside the action: `.A.B` is one chain,
    /// `.A .B` two arguments.
    pub(crate) space_before: bool,
}

/// Token kinds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// Plain text between actions, as a byte range of the source (already
    /// trimmed by neighbouring trim markers).
    Text(usize, usize),
    /// `{{` (with or without trim marker).
    Open,
    /// `}}` (with or without trim marker).
    Close,
    /// `.Name` (one element of a field chain).
    Field(String),
    /// `.` alone.
    Dot,
    /// `$name`; the empty name is `$` itself.
    Var(String),
    /// A bare identifier: keyword, `true`/`false`/`nil` or function name.
    Ident(String),
    /// A decoded string literal.
    Str(String),
    /// An integer literal (including character literals).
    Int(i64),
    /// A floating point literal.
    Float(f64),
    LParen,
    RParen,
    Pipe,
    /// `:=`
    Declare,
    /// `=`
    Assign,
    Comma,
    Eof,
}

impl Tok {
    /// How the token is shown in error messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Text(..) => "text".to_owned(),
            Tok::Open => "\"{{\"".to_owned(),
            Tok::Close => "\"}}\"".to_owned(),
            Tok::Field(n) => format!("field \".{n}\""),
            Tok::Dot => "\".\"".to_owned(),
            Tok::Var(n) => format!("variable \"${n}\""),
            Tok::Ident(n) => format!("{n:?}"),
            Tok::Str(s) => format!("string {s:?}"),
            Tok::Int(i) => format!("number {i}"),
            Tok::Float(f) => format!("number {f}"),
            Tok::LParen => "\"(\"".to_owned(),
            Tok::RParen => "\")\"".to_owned(),
            Tok::Pipe => "\"|\"".to_owned(),
            Tok::Declare => "\":=\"".to_owned(),
            Tok::Assign => "\"=\"".to_owned(),
            Tok::Comma => "\",\"".to_owned(),
            Tok::Eof => "end of template".to_owned(),
        }
    }
}

/// Go's trim-marker whitespace (and the whitespace allowed inside actions).
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_ident_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

struct Lexer<'s> {
    src: &'s str,
    bytes: &'s [u8],
    pos: usize,
    tokens: Vec<Token>,
}

/// Tokenizes `src`.
pub(crate) fn lex(src: &str) -> Result<Vec<Token>, ParseError> {
    let mut lx = Lexer {
        src,
        bytes: src.as_bytes(),
        pos: 0,
        tokens: Vec::new(),
    };
    lx.run()?;
    Ok(lx.tokens)
}

impl Lexer<'_> {
    fn err(&self, msg: impl Into<String>, offset: usize) -> ParseError {
        ParseError::Lexical {
            msg: msg.into(),
            pos: Pos::at(self.src, offset),
        }
    }

    fn push(&mut self, kind: Tok, offset: usize, space_before: bool) {
        self.tokens.push(Token {
            kind,
            offset,
            space_before,
        });
    }

    fn rest(&self) -> &[u8] {
        self.bytes.get(self.pos..).unwrap_or_default()
    }

    fn peek_char(&self) -> Option<char> {
        self.src.get(self.pos..).and_then(|s| s.chars().next())
    }

    fn run(&mut self) -> Result<(), ParseError> {
        // Whether the previous action ended with ` -}}`.
        let mut trim_next = false;
        loop {
            let text_start = self.pos;
            let open = find(self.rest(), b"{{").map(|i| self.pos + i);
            let text_end = open.unwrap_or(self.bytes.len());
            let mut start = text_start;
            let mut end = text_end;
            if trim_next {
                while start < end && self.bytes.get(start).copied().is_some_and(is_space) {
                    start += 1;
                }
            }
            let Some(open) = open else {
                if start < end {
                    self.push(Tok::Text(start, end), start, false);
                }
                self.push(Tok::Eof, self.bytes.len(), false);
                return Ok(());
            };
            // `{{- ` trims the whitespace before the action.
            let left_trim = self.bytes.get(open + 2) == Some(&b'-')
                && self.bytes.get(open + 3).copied().is_some_and(is_space);
            if left_trim {
                while end > start && self.bytes.get(end - 1).copied().is_some_and(is_space) {
                    end -= 1;
                }
            }
            if start < end {
                self.push(Tok::Text(start, end), start, false);
            }
            self.pos = open + if left_trim { 3 } else { 2 };
            trim_next = self.action(open)?;
        }
    }

    /// Lexes one action after its `{{`; returns whether it ended with `-}}`.
    fn action(&mut self, open: usize) -> Result<bool, ParseError> {
        // A comment must fill the whole action: `{{/* ... */}}`.
        let after_space = self.pos + self.rest().iter().take_while(|b| is_space(**b)).count();
        if self
            .bytes
            .get(after_space..)
            .is_some_and(|r| r.starts_with(b"/*"))
        {
            let body = after_space + 2;
            let Some(close) = self.bytes.get(body..).and_then(|r| find(r, b"*/")) else {
                return Err(ParseError::UnclosedComment {
                    pos: Pos::at(self.src, open),
                });
            };
            self.pos = body + close + 2;
            let end_space = self.rest().iter().take_while(|b| is_space(**b)).count();
            let after = self.pos + end_space;
            if end_space > 0
                && self
                    .bytes
                    .get(after..)
                    .is_some_and(|r| r.starts_with(b"-}}"))
            {
                self.pos = after + 3;
                return Ok(true);
            }
            if self.rest().starts_with(b"}}") {
                self.pos += 2;
                return Ok(false);
            }
            return Err(self.err("comment ends before closing delimiter", self.pos));
        }
        self.push(Tok::Open, open, false);
        loop {
            let before = self.pos;
            while self.bytes.get(self.pos).copied().is_some_and(is_space) {
                self.pos += 1;
            }
            let space = self.pos > before;
            let rest = self.rest();
            if rest.is_empty() {
                return Err(ParseError::UnclosedAction {
                    pos: Pos::at(self.src, open),
                });
            }
            if space && rest.starts_with(b"-}}") {
                self.push(Tok::Close, self.pos, space);
                self.pos += 3;
                return Ok(true);
            }
            if rest.starts_with(b"}}") {
                self.push(Tok::Close, self.pos, space);
                self.pos += 2;
                return Ok(false);
            }
            self.token(space)?;
        }
    }

    /// Lexes one token inside an action.
    fn token(&mut self, space: bool) -> Result<(), ParseError> {
        let start = self.pos;
        let Some(c) = self.peek_char() else {
            return Err(ParseError::UnclosedAction {
                pos: Pos::at(self.src, start),
            });
        };
        let next = self.bytes.get(start + 1).copied();
        match c {
            '.' if next.is_some_and(|b| b.is_ascii_digit()) => self.number(space),
            '.' => {
                self.pos += 1;
                let name = self.ident().to_owned();
                if name.is_empty() {
                    self.push(Tok::Dot, start, space);
                } else {
                    self.push(Tok::Field(name), start, space);
                }
                Ok(())
            }
            '$' => {
                self.pos += 1;
                let name = self.ident().to_owned();
                self.push(Tok::Var(name), start, space);
                Ok(())
            }
            '"' => self.quoted(space),
            '`' => self.raw(space),
            '\'' => self.char_lit(space),
            '0'..='9' => self.number(space),
            '+' | '-' if next.is_some_and(|b| b.is_ascii_digit() || b == b'.') => {
                self.number(space)
            }
            '(' => self.single(Tok::LParen, space),
            ')' => self.single(Tok::RParen, space),
            '|' => self.single(Tok::Pipe, space),
            ',' => self.single(Tok::Comma, space),
            '=' => self.single(Tok::Assign, space),
            ':' if next == Some(b'=') => {
                self.pos += 2;
                self.push(Tok::Declare, start, space);
                Ok(())
            }
            c if c == '_' || c.is_alphabetic() => {
                let name = self.ident().to_owned();
                self.push(Tok::Ident(name), start, space);
                Ok(())
            }
            c => Err(self.err(format!("unrecognized character in action: {c:?}"), start)),
        }
    }

    fn single(&mut self, kind: Tok, space: bool) -> Result<(), ParseError> {
        self.push(kind, self.pos, space);
        self.pos += 1;
        Ok(())
    }

    /// Consumes identifier characters and returns them.
    fn ident(&mut self) -> &str {
        let start = self.pos;
        let rest = self.src.get(start..).unwrap_or_default();
        let len: usize = rest
            .chars()
            .take_while(|c| is_ident_char(*c))
            .map(char::len_utf8)
            .sum();
        self.pos += len;
        self.src.get(start..start + len).unwrap_or_default()
    }

    fn number(&mut self, space: bool) -> Result<(), ParseError> {
        let start = self.pos;
        let rest = self.src.get(start..).unwrap_or_default();
        // Take the longest run that could belong to a number, then validate it:
        // `12a` must be an error, not `12` followed by `a`.
        let mut len = 0;
        let mut prev = '\0';
        for c in rest.chars() {
            let exp_sign = (c == '+' || c == '-') && matches!(prev, 'e' | 'E' | 'p' | 'P');
            let sign = (c == '+' || c == '-') && len == 0;
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' || exp_sign || sign {
                len += c.len_utf8();
                prev = c;
            } else {
                break;
            }
        }
        self.pos += len;
        let text = rest.get(..len).unwrap_or_default();
        let kind = parse_number(text)
            .ok_or_else(|| self.err(format!("bad number syntax: {text:?}"), start))?;
        self.push(kind, start, space);
        Ok(())
    }

    fn quoted(&mut self, space: bool) -> Result<(), ParseError> {
        let start = self.pos;
        self.pos += 1;
        let mut buf: Vec<u8> = Vec::new();
        loop {
            let Some(c) = self.peek_char() else {
                return Err(self.err("unterminated quoted string", start));
            };
            match c {
                '"' => {
                    self.pos += 1;
                    break;
                }
                '\n' => return Err(self.err("unterminated quoted string", start)),
                '\\' => self.escape(&mut buf, '"')?,
                c => {
                    let mut tmp = [0u8; 4];
                    buf.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
                    self.pos += c.len_utf8();
                }
            }
        }
        let s = String::from_utf8(buf)
            .map_err(|_| self.err("string literal is not valid UTF-8", start))?;
        self.push(Tok::Str(s), start, space);
        Ok(())
    }

    fn raw(&mut self, space: bool) -> Result<(), ParseError> {
        let start = self.pos;
        let body = start + 1;
        let Some(len) = self
            .bytes
            .get(body..)
            .and_then(|r| r.iter().position(|b| *b == b'`'))
        else {
            return Err(self.err("unterminated raw quoted string", start));
        };
        // Go drops carriage returns from raw strings.
        let s: String = self
            .src
            .get(body..body + len)
            .unwrap_or_default()
            .chars()
            .filter(|c| *c != '\r')
            .collect();
        self.pos = body + len + 1;
        self.push(Tok::Str(s), start, space);
        Ok(())
    }

    fn char_lit(&mut self, space: bool) -> Result<(), ParseError> {
        let start = self.pos;
        self.pos += 1;
        let mut buf = Vec::new();
        match self.peek_char() {
            Some('\\') => self.escape(&mut buf, '\'')?,
            Some(c) if c != '\'' && c != '\n' => {
                let mut tmp = [0u8; 4];
                buf.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
                self.pos += c.len_utf8();
            }
            _ => return Err(self.err("bad character constant", start)),
        }
        if self.peek_char() != Some('\'') {
            return Err(self.err("unterminated character constant", start));
        }
        self.pos += 1;
        // A `\xHH` escape yields a byte, any other form a whole character.
        let value = match std::str::from_utf8(&buf) {
            Ok(s) if s.chars().count() == 1 => {
                s.chars().next().map_or(0, |c| i64::from(u32::from(c)))
            }
            _ if buf.len() == 1 => buf.first().map_or(0, |b| i64::from(*b)),
            _ => return Err(self.err("bad character constant", start)),
        };
        self.push(Tok::Int(value), start, space);
        Ok(())
    }

    /// Decodes one backslash escape (Go's `strconv.Unquote` rules) into `buf`.
    fn escape(&mut self, buf: &mut Vec<u8>, quote: char) -> Result<(), ParseError> {
        let start = self.pos;
        self.pos += 1;
        let Some(c) = self.peek_char() else {
            return Err(self.err("unterminated quoted string", start));
        };
        self.pos += c.len_utf8();
        let simple = match c {
            'a' => Some(0x07),
            'b' => Some(0x08),
            'f' => Some(0x0c),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(0x0b),
            '\\' => Some(b'\\'),
            c if c == quote => Some(c as u8),
            _ => None,
        };
        if let Some(b) = simple {
            buf.push(b);
            return Ok(());
        }
        let (digits, radix) = match c {
            'x' => (2, 16),
            'u' => (4, 16),
            'U' => (8, 16),
            '0'..='7' => (2, 8),
            _ => return Err(self.err(format!("invalid escape sequence \\{c}"), start)),
        };
        let mut value: u32 = if radix == 8 {
            c.to_digit(8).unwrap_or(0)
        } else {
            0
        };
        for _ in 0..digits {
            let d = self
                .peek_char()
                .and_then(|d| d.to_digit(radix))
                .ok_or_else(|| self.err(format!("invalid escape sequence \\{c}"), start))?;
            value = value * radix + d;
            self.pos += 1;
        }
        match c {
            'x' | '0'..='7' => {
                let b =
                    u8::try_from(value).map_err(|_| self.err("octal escape value > 255", start))?;
                buf.push(b);
            }
            _ => {
                let ch = char::from_u32(value).ok_or_else(|| {
                    self.err(format!("invalid unicode escape \\{c}{value:x}"), start)
                })?;
                let mut tmp = [0u8; 4];
                buf.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
            }
        }
        Ok(())
    }
}

/// Finds `needle` in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Parses a Go number literal: decimal, `0x`/`0o`/`0b` integers (with `_`
/// separators) and decimal floats. Returns `None` when malformed.
fn parse_number(text: &str) -> Option<Tok> {
    let (neg, body) = match text.as_bytes().first() {
        Some(b'-') => (true, text.get(1..)?),
        Some(b'+') => (false, text.get(1..)?),
        _ => (false, text),
    };
    if body.is_empty() || body.starts_with('_') || body.ends_with('_') {
        return None;
    }
    let clean: String = body.chars().filter(|c| *c != '_').collect();
    let lower = clean.to_ascii_lowercase();
    let radix = if lower.starts_with("0x") {
        Some(16)
    } else if lower.starts_with("0o") {
        Some(8)
    } else if lower.starts_with("0b") {
        Some(2)
    } else {
        None
    };
    if let Some(radix) = radix {
        let digits = clean.get(2..)?;
        let v = i64::from_str_radix(digits, radix).ok()?;
        return Some(Tok::Int(if neg { -v } else { v }));
    }
    let is_float = lower.contains(['.', 'e']);
    if !is_float {
        // Go reads a leading-zero integer as octal.
        let v = if clean.len() > 1 && clean.starts_with('0') {
            i64::from_str_radix(clean.get(1..)?, 8).ok()?
        } else {
            clean.parse::<i64>().ok()?
        };
        return Some(Tok::Int(if neg { -v } else { v }));
    }
    // Rust's float grammar is close to Go's decimal one, but accepts words
    // like `inf`; only digits, one dot and an exponent are allowed here.
    if !lower
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | '+' | '-'))
    {
        return None;
    }
    let v: f64 = clean.parse().ok()?;
    Some(Tok::Float(if neg { -v } else { v }))
}
