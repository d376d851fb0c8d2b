//! Parser: turns tokens into the tree the executor walks.
//!
//! Everything that Go checks when parsing is checked here (function names,
//! variable scoping, misplaced `{{end}}`/`{{else}}`/`{{break}}`), so that a
//! rule with a broken template is rejected at load time. Variables are
//! resolved to stack slots now, so rendering never looks names up.

use super::funcs::Func;
use super::lex::{Tok, Token, lex};
use super::{ParseError, Pos};

/// Nesting limit for parentheses and control structures, so that hostile
/// input cannot overflow the stack in the (recursive) parser or executor.
const MAX_DEPTH: usize = 100;

/// A node of the template tree.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    /// Literal text: a byte range of the source.
    Text(usize, usize),
    /// `{{ pipeline }}`: prints the value unless it declares a variable.
    Action(Pipeline),
    /// `{{if}}`.
    If(Box<Branch>),
    /// `{{with}}`: like `if`, and the value becomes the dot.
    With(Box<Branch>),
    /// `{{range}}`.
    Range(Box<Branch>),
    /// `{{break}}` inside a range.
    Break,
    /// `{{continue}}` inside a range.
    Continue,
}

/// The shared shape of `if`, `with` and `range`.
#[derive(Debug, Clone)]
pub(crate) struct Branch {
    pub(crate) pipe: Pipeline,
    pub(crate) then: Vec<Node>,
    /// The `{{else}}` list; an `{{else if}}` is a nested `If` here.
    pub(crate) otherwise: Vec<Node>,
}

/// A pipeline, optionally declaring or assigning variables.
#[derive(Debug, Clone)]
pub(crate) struct Pipeline {
    /// `:=` (new slots are pushed) rather than `=` (existing slots set).
    pub(crate) declare: bool,
    /// The variable stack slots written by this pipeline (two for
    /// `range $i, $v := ...`).
    pub(crate) slots: Vec<usize>,
    pub(crate) cmds: Vec<Command>,
}

/// One `|`-separated stage: a function, method or value with arguments.
#[derive(Debug, Clone)]
pub(crate) struct Command {
    pub(crate) head: Operand,
    pub(crate) args: Vec<Operand>,
}

/// An operand (argument or command head).
#[derive(Debug, Clone)]
pub(crate) enum Operand {
    /// A function: called with the command's arguments, or with none when
    /// used as an argument.
    Func(Func),
    /// `.`
    Dot,
    /// `.A.B` on the dot.
    Field(Box<[String]>),
    /// `$` (slot `None`) or `$x`, with an optional field chain.
    Var {
        slot: Option<usize>,
        fields: Box<[String]>,
    },
    /// `( pipeline )`, with an optional field chain.
    Pipe {
        pipe: Box<Pipeline>,
        fields: Box<[String]>,
    },
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Nil,
}

impl Operand {
    /// Whether arguments may follow it as a command head: functions, and
    /// field chains (a method call such as `.Header.Get "X"`).
    fn callable(&self) -> bool {
        match self {
            Operand::Func(_) | Operand::Field(_) => true,
            Operand::Var { fields, .. } | Operand::Pipe { fields, .. } => !fields.is_empty(),
            _ => false,
        }
    }
}

/// How a list ended.
enum Term {
    Eof,
    End(usize),
    Else(ElseKind, usize),
}

#[derive(PartialEq)]
enum ElseKind {
    Plain,
    If,
    With,
}

#[derive(Clone, Copy, PartialEq)]
enum Control {
    If,
    With,
    Range,
}

impl Control {
    fn name(self) -> &'static str {
        match self {
            Control::If => "if",
            Control::With => "with",
            Control::Range => "range",
        }
    }
}

struct Parser<'s> {
    src: &'s str,
    toks: Vec<Token>,
    i: usize,
    /// Names of the variables in scope; the index is the runtime stack slot.
    vars: Vec<String>,
    depth: usize,
    range_depth: usize,
}

/// Parses `src` into its top-level node list.
pub(crate) fn parse(src: &str) -> Result<Vec<Node>, ParseError> {
    let toks = lex(src)?;
    let mut p = Parser {
        src,
        toks,
        i: 0,
        vars: Vec::new(),
        depth: 0,
        range_depth: 0,
    };
    let (nodes, term) = p.list()?;
    match term {
        Term::Eof => Ok(nodes),
        Term::End(at) => Err(p.unexpected_at("{{end}}".to_owned(), "text or action", at)),
        Term::Else(_, at) => Err(p.unexpected_at("{{else}}".to_owned(), "text or action", at)),
    }
}

impl Parser<'_> {
    fn pos(&self, offset: usize) -> Pos {
        Pos::at(self.src, offset)
    }

    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.i)
    }

    fn peek_kind(&self) -> &Tok {
        self.peek_at(0)
    }

    fn peek_at(&self, n: usize) -> &Tok {
        self.toks.get(self.i + n).map_or(&Tok::Eof, |t| &t.kind)
    }

    fn offset(&self) -> usize {
        self.peek().map_or(self.src.len(), |t| t.offset)
    }

    fn next(&mut self) -> Token {
        let t = self.toks.get(self.i).cloned().unwrap_or(Token {
            kind: Tok::Eof,
            offset: self.src.len(),
            space_before: false,
        });
        self.i += 1;
        t
    }

    fn unexpected_at(&self, found: String, expected: &'static str, offset: usize) -> ParseError {
        ParseError::Unexpected {
            found,
            expected,
            pos: self.pos(offset),
        }
    }

    /// Error for the next token not being `expected`.
    fn unexpected(&self, expected: &'static str) -> ParseError {
        self.unexpected_at(self.peek_kind().describe(), expected, self.offset())
    }

    fn expect_close(&mut self) -> Result<(), ParseError> {
        if *self.peek_kind() == Tok::Close {
            self.i += 1;
            Ok(())
        } else {
            Err(self.unexpected("\"}}\""))
        }
    }

    fn enter(&mut self, offset: usize) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError::TooDeep {
                pos: self.pos(offset),
            });
        }
        Ok(())
    }

    /// Parses nodes until end of input, `{{end}}` or `{{else ...}}`.
    /// Variables declared in the list go out of scope at its end.
    fn list(&mut self) -> Result<(Vec<Node>, Term), ParseError> {
        let mark = self.vars.len();
        let result = self.list_inner();
        self.vars.truncate(mark);
        result
    }

    fn list_inner(&mut self) -> Result<(Vec<Node>, Term), ParseError> {
        let mut nodes = Vec::new();
        loop {
            let tok = self.next();
            match tok.kind {
                Tok::Text(a, b) => nodes.push(Node::Text(a, b)),
                Tok::Eof => return Ok((nodes, Term::Eof)),
                Tok::Open => {
                    let start = tok.offset;
                    let keyword = match self.peek_kind() {
                        Tok::Ident(k) => k.clone(),
                        _ => String::new(),
                    };
                    match keyword.as_str() {
                        "end" => {
                            self.i += 1;
                            self.expect_close()?;
                            return Ok((nodes, Term::End(start)));
                        }
                        "else" => {
                            self.i += 1;
                            let kind = match self.peek_kind() {
                                Tok::Close => {
                                    self.i += 1;
                                    ElseKind::Plain
                                }
                                Tok::Ident(k) if k == "if" => {
                                    self.i += 1;
                                    ElseKind::If
                                }
                                Tok::Ident(k) if k == "with" => {
                                    self.i += 1;
                                    ElseKind::With
                                }
                                _ => {
                                    return Err(
                                        self.unexpected("\"}}\", \"if\" or \"with\" after else")
                                    );
                                }
                            };
                            return Ok((nodes, Term::Else(kind, start)));
                        }
                        "if" | "with" | "range" => {
                            self.i += 1;
                            let control = match keyword.as_str() {
                                "if" => Control::If,
                                "with" => Control::With,
                                _ => Control::Range,
                            };
                            nodes.push(self.control(control, start)?);
                        }
                        "break" | "continue" => {
                            if self.range_depth == 0 {
                                return Err(self.unexpected_at(
                                    format!("{{{{{keyword}}}}}"),
                                    "it inside {{range}}",
                                    start,
                                ));
                            }
                            self.i += 1;
                            self.expect_close()?;
                            nodes.push(if keyword == "break" {
                                Node::Break
                            } else {
                                Node::Continue
                            });
                        }
                        "define" | "template" | "block" => {
                            return Err(ParseError::Unsupported {
                                what: format!("{{{{{keyword}}}}}"),
                                pos: self.pos(start),
                            });
                        }
                        _ => {
                            let pipe = self.pipeline(Control::If)?;
                            self.expect_close()?;
                            nodes.push(Node::Action(pipe));
                        }
                    }
                }
                other => {
                    return Err(self.unexpected_at(other.describe(), "text or action", tok.offset));
                }
            }
        }
    }

    /// Parses `if`/`with`/`range` after its keyword, through `{{end}}`.
    fn control(&mut self, control: Control, start: usize) -> Result<Node, ParseError> {
        self.enter(start)?;
        let mark = self.vars.len();
        let result = self.control_inner(control, start);
        self.vars.truncate(mark);
        self.depth -= 1;
        result
    }

    fn control_inner(&mut self, control: Control, start: usize) -> Result<Node, ParseError> {
        let pipe = self.pipeline(control)?;
        self.expect_close()?;
        if control == Control::Range {
            self.range_depth += 1;
        }
        let listed = self.list();
        if control == Control::Range {
            self.range_depth -= 1;
        }
        let (then, term) = listed?;
        let missing_end = ParseError::MissingEnd {
            keyword: control.name(),
            pos: self.pos(start),
        };
        let otherwise = match term {
            Term::End(_) => Vec::new(),
            Term::Eof => return Err(missing_end),
            Term::Else(ElseKind::Plain, _) => {
                let (list, term) = self.list()?;
                match term {
                    Term::End(_) => list,
                    Term::Eof => return Err(missing_end),
                    Term::Else(_, at) => {
                        return Err(self.unexpected_at("{{else}}".to_owned(), "{{end}}", at));
                    }
                }
            }
            // `{{else if x}}...{{end}}` is `{{else}}{{if x}}...{{end}}{{end}}`:
            // the nested control consumes the shared `{{end}}`.
            Term::Else(ElseKind::If, at) if control == Control::If => {
                vec![self.control(Control::If, at)?]
            }
            Term::Else(ElseKind::With, at) if control == Control::With => {
                vec![self.control(Control::With, at)?]
            }
            Term::Else(_, at) => {
                return Err(self.unexpected_at(
                    "{{else if}} or {{else with}}".to_owned(),
                    "{{else}} or {{end}}",
                    at,
                ));
            }
        };
        let branch = Box::new(Branch {
            pipe,
            then,
            otherwise,
        });
        Ok(match control {
            Control::If => Node::If(branch),
            Control::With => Node::With(branch),
            Control::Range => Node::Range(branch),
        })
    }

    /// Parses a pipeline up to (not including) its closing `}}` or `)`.
    fn pipeline(&mut self, control: Control) -> Result<Pipeline, ParseError> {
        let start = self.offset();
        // Declarations: `$x :=`, `$x =`, and for range `$i, $v :=`.
        let mut names: Vec<(String, usize)> = Vec::new();
        let mut declare = false;
        if let Tok::Var(first) = self.peek_kind() {
            let first = first.clone();
            match self.peek_at(1) {
                Tok::Declare | Tok::Assign => {
                    declare = *self.peek_at(1) == Tok::Declare;
                    names.push((first, self.offset()));
                    self.i += 2;
                }
                Tok::Comma if control == Control::Range => {
                    let second = match (self.peek_at(2), self.peek_at(3)) {
                        (Tok::Var(second), Tok::Declare | Tok::Assign) => second.clone(),
                        _ => {
                            return Err(self.unexpected_at(
                                "\",\"".to_owned(),
                                "\":=\" after range variables",
                                start,
                            ));
                        }
                    };
                    declare = *self.peek_at(3) == Tok::Declare;
                    let first_at = self.offset();
                    let second_at = self.toks.get(self.i + 2).map_or(first_at, |t| t.offset);
                    names.push((first, first_at));
                    names.push((second, second_at));
                    self.i += 4;
                }
                _ => {}
            }
        }
        let mut cmds = Vec::new();
        loop {
            let cmd_start = self.offset();
            let cmd = self.command()?;
            if !cmds.is_empty() && !cmd.head.callable() {
                return Err(self.unexpected_at(
                    "non-executable command".to_owned(),
                    "a function or method after \"|\"",
                    cmd_start,
                ));
            }
            cmds.push(cmd);
            if *self.peek_kind() == Tok::Pipe {
                self.i += 1;
            } else {
                break;
            }
        }
        let mut slots = Vec::with_capacity(names.len());
        for (name, at) in names {
            if declare {
                slots.push(self.vars.len());
                self.vars.push(name);
            } else {
                match self.resolve(&name, at)? {
                    Some(slot) => slots.push(slot),
                    None => {
                        return Err(self.unexpected_at(
                            "\"$\"".to_owned(),
                            "an assignable variable",
                            at,
                        ));
                    }
                }
            }
        }
        Ok(Pipeline {
            declare,
            slots,
            cmds,
        })
    }

    /// Parses one command: operands up to `|`, `}}` or `)`.
    fn command(&mut self) -> Result<Command, ParseError> {
        let start = self.offset();
        let mut ops = Vec::new();
        while !matches!(
            self.peek_kind(),
            Tok::Pipe | Tok::Close | Tok::RParen | Tok::Eof
        ) {
            ops.push(self.operand()?);
        }
        let mut ops = ops.into_iter();
        let Some(head) = ops.next() else {
            return Err(self.unexpected("a command"));
        };
        let args: Vec<Operand> = ops.collect();
        if matches!(head, Operand::Nil) {
            return Err(self.unexpected_at(
                "nil".to_owned(),
                "a command (nil is not a command)",
                start,
            ));
        }
        if !args.is_empty() && !head.callable() {
            return Err(self.unexpected_at(
                "arguments".to_owned(),
                "no arguments after a non-function",
                start,
            ));
        }
        Ok(Command { head, args })
    }

    /// Resolves `$name` to a slot (`None` for `$` itself).
    fn resolve(&self, name: &str, at: usize) -> Result<Option<usize>, ParseError> {
        if name.is_empty() {
            return Ok(None);
        }
        match self.vars.iter().rposition(|v| v == name) {
            Some(slot) => Ok(Some(slot)),
            None => Err(ParseError::UndefinedVariable {
                name: name.to_owned(),
                pos: self.pos(at),
            }),
        }
    }

    /// Collects `.A.B` directly following a term (no space in between).
    fn chain(&mut self) -> Box<[String]> {
        let mut names = Vec::new();
        while let Some(Token {
            kind: Tok::Field(name),
            space_before: false,
            ..
        }) = self.peek()
        {
            names.push(name.clone());
            self.i += 1;
        }
        names.into_boxed_slice()
    }

    fn operand(&mut self) -> Result<Operand, ParseError> {
        let tok = self.next();
        let op = match tok.kind {
            Tok::Dot => Operand::Dot,
            Tok::Field(first) => {
                let mut names = vec![first];
                names.extend(self.chain());
                return Ok(Operand::Field(names.into_boxed_slice()));
            }
            Tok::Var(name) => {
                let slot = self.resolve(&name, tok.offset)?;
                let fields = self.chain();
                return Ok(Operand::Var { slot, fields });
            }
            Tok::LParen => {
                self.enter(tok.offset)?;
                let pipe = self.pipeline(Control::If);
                self.depth -= 1;
                let pipe = pipe?;
                if *self.peek_kind() != Tok::RParen {
                    return Err(self.unexpected("\")\""));
                }
                self.i += 1;
                if pipe.declare || !pipe.slots.is_empty() {
                    return Err(self.unexpected_at(
                        "declaration".to_owned(),
                        "no declaration in a parenthesized pipeline",
                        tok.offset,
                    ));
                }
                let fields = self.chain();
                return Ok(Operand::Pipe {
                    pipe: Box::new(pipe),
                    fields,
                });
            }
            Tok::Str(s) => Operand::Str(s),
            Tok::Int(i) => Operand::Int(i),
            Tok::Float(f) => Operand::Float(f),
            Tok::Ident(name) => match name.as_str() {
                "true" => Operand::Bool(true),
                "false" => Operand::Bool(false),
                "nil" => Operand::Nil,
                "if" | "else" | "end" | "range" | "with" | "break" | "continue" | "define"
                | "template" | "block" => {
                    return Err(self.unexpected_at(
                        format!("keyword {name:?}"),
                        "an operand",
                        tok.offset,
                    ));
                }
                _ => match Func::from_name(&name) {
                    Some(f) => Operand::Func(f),
                    None => {
                        return Err(ParseError::UnknownFunction {
                            name,
                            pos: self.pos(tok.offset),
                        });
                    }
                },
            },
            other => return Err(self.unexpected_at(other.describe(), "an operand", tok.offset)),
        };
        // Only variables, fields and parenthesized pipelines have fields.
        if let Some(Token {
            kind: Tok::Field(_),
            space_before: false,
            offset,
        }) = self.peek()
        {
            return Err(self.unexpected_at(
                "field".to_owned(),
                "a space before the next operand",
                *offset,
            ));
        }
        Ok(op)
    }
}
