//! Executor: walks the parsed tree against the data.
//!
//! Values are borrowed from the data and the template wherever possible;
//! function arguments live in a small inline buffer, so a typical action
//! allocates nothing but the growth of the output.

use std::borrow::Cow;

use super::format;
use super::funcs::{self, Func};
use super::parse::{Branch, Command, Node, Operand, Pipeline};
use super::{Data, MAX_RENDER_BYTES, RenderError, Template, Value};

/// How a list of nodes finished: `break`/`continue` unwind to the range.
#[derive(PartialEq)]
enum Flow {
    Normal,
    Break,
    Continue,
}

/// Arguments are collected here; up to `INLINE` stay on the stack.
const INLINE: usize = 4;

struct Args<'a> {
    inline: [Value<'a>; INLINE],
    len: usize,
    heap: Vec<Value<'a>>,
}

impl<'a> Args<'a> {
    fn new() -> Self {
        Args {
            inline: [const { Value::Missing }; INLINE],
            len: 0,
            heap: Vec::new(),
        }
    }

    fn push(&mut self, v: Value<'a>) {
        if self.heap.is_empty() {
            if let Some(slot) = self.inline.get_mut(self.len) {
                *slot = v;
                self.len += 1;
                return;
            }
            // Spill: move the inline values to the heap, in order.
            self.heap.reserve(INLINE * 2);
            self.heap.extend(
                self.inline
                    .iter_mut()
                    .map(|v| std::mem::replace(v, Value::Missing)),
            );
        }
        self.heap.push(v);
    }

    fn as_mut_slice(&mut self) -> &mut [Value<'a>] {
        if self.heap.is_empty() {
            self.inline.get_mut(..self.len).unwrap_or_default()
        } else {
            &mut self.heap
        }
    }
}

struct State<'a> {
    src: &'a str,
    root: &'a dyn Data,
    /// Variable slots, mirroring the parser's scopes.
    vars: Vec<Value<'a>>,
}

/// Renders `t` with `data` as the dot, appending to `out`.
pub(crate) fn render<'a>(
    t: &'a Template,
    data: &'a dyn Data,
    out: &mut String,
) -> Result<(), RenderError> {
    let mut st = State {
        src: &t.source,
        root: data,
        vars: Vec::new(),
    };
    st.list(&t.root, &Value::Object(data), out)?;
    Ok(())
}

/// Looks up a field (or zero-argument method) on a value.
fn field<'a>(recv: &Value<'a>, name: &str) -> Result<Value<'a>, RenderError> {
    let kind = match recv {
        // missingkey=zero: fields of nothing are nothing.
        Value::Missing | Value::Null | Value::Json(serde_json::Value::Null) => {
            return Ok(Value::Missing);
        }
        Value::Object(d) => return Ok(d.field(name)),
        Value::Json(serde_json::Value::Object(m)) => {
            return Ok(m.get(name).map_or(Value::Missing, Value::Json));
        }
        Value::Header(_) if matches!(name, "Get" | "Values") => {
            return Err(RenderError::ArgCount {
                func: if name == "Get" { "Get" } else { "Values" },
                want: "1",
                got: 0,
            });
        }
        other => format::go_type(other),
    };
    Err(RenderError::NoField {
        field: name.to_owned(),
        kind,
    })
}

/// Calls a method with arguments: only `http.Header`'s `Get` and `Values`.
fn method<'a>(recv: &Value<'a>, name: &str, args: &[Value<'_>]) -> Result<Value<'a>, RenderError> {
    let Value::Header(h) = recv else {
        return match recv {
            Value::Object(_) | Value::Json(serde_json::Value::Object(_)) => {
                Err(RenderError::NotAMethod {
                    name: name.to_owned(),
                })
            }
            other => Err(RenderError::NoField {
                field: name.to_owned(),
                kind: format::go_type(other),
            }),
        };
    };
    let func = match name {
        "Get" => "Get",
        "Values" => "Values",
        _ => {
            return Err(RenderError::NoField {
                field: name.to_owned(),
                kind: "http.Header",
            });
        }
    };
    let [key] = args else {
        return Err(RenderError::ArgCount {
            func,
            want: "1",
            got: args.len(),
        });
    };
    let key = format::as_str(key).ok_or_else(|| RenderError::ArgType {
        func,
        expected: "string",
        got: format::go_type(key),
    })?;
    let h: &'a http::HeaderMap = h;
    Ok(if func == "Get" {
        Value::Str(
            h.get(key)
                .map_or(Cow::Borrowed(""), |v| String::from_utf8_lossy(v.as_bytes())),
        )
    } else {
        Value::List(
            h.get_all(key)
                .iter()
                .map(|v| Value::Str(String::from_utf8_lossy(v.as_bytes())))
                .collect(),
        )
    })
}

impl<'a> State<'a> {
    fn list(
        &mut self,
        nodes: &'a [Node],
        dot: &Value<'a>,
        out: &mut String,
    ) -> Result<Flow, RenderError> {
        let mark = self.vars.len();
        let mut flow = Flow::Normal;
        for node in nodes {
            flow = self.node(node, dot, out)?;
            if flow != Flow::Normal {
                break;
            }
        }
        self.vars.truncate(mark);
        Ok(flow)
    }

    fn node(
        &mut self,
        node: &'a Node,
        dot: &Value<'a>,
        out: &mut String,
    ) -> Result<Flow, RenderError> {
        match node {
            Node::Text(a, b) => out.push_str(self.src.get(*a..*b).unwrap_or_default()),
            Node::Action(pipe) => self.action(pipe, dot, out)?,
            Node::If(b) => return self.if_with(b, dot, out, false),
            Node::With(b) => return self.if_with(b, dot, out, true),
            Node::Range(b) => return self.range(b, dot, out),
            Node::Break => return Ok(Flow::Break),
            Node::Continue => return Ok(Flow::Continue),
        }
        if out.len() > MAX_RENDER_BYTES {
            return Err(RenderError::TooLarge);
        }
        Ok(Flow::Normal)
    }

    fn action(
        &mut self,
        pipe: &'a Pipeline,
        dot: &Value<'a>,
        out: &mut String,
    ) -> Result<(), RenderError> {
        if !pipe.slots.is_empty() {
            let v = self.pipeline(pipe, dot)?;
            self.bind(pipe, v);
            return Ok(());
        }
        // Fast path: a final print/printf/println writes straight into `out`.
        if let Some((last, init)) = pipe.cmds.split_last()
            && let Operand::Func(f) = last.head
            && f.writes_text()
        {
            let mut piped = None;
            for cmd in init {
                piped = Some(self.command(cmd, dot, piped)?);
            }
            let mut args = self.args(&last.args, dot, piped)?;
            return funcs::write_text(f, args.as_mut_slice(), out);
        }
        let v = self.pipeline(pipe, dot)?;
        format::write_v(out, &v, "");
        Ok(())
    }

    /// Declares or assigns the pipeline's variable (not used by `range`).
    fn bind(&mut self, pipe: &Pipeline, v: Value<'a>) {
        if pipe.declare {
            self.vars.push(v);
        } else if let Some(slot) = pipe.slots.first().and_then(|s| self.vars.get_mut(*s)) {
            *slot = v;
        }
    }

    fn if_with(
        &mut self,
        b: &'a Branch,
        dot: &Value<'a>,
        out: &mut String,
        with: bool,
    ) -> Result<Flow, RenderError> {
        let mark = self.vars.len();
        let v = self.pipeline(&b.pipe, dot)?;
        if !b.pipe.slots.is_empty() {
            self.bind(&b.pipe, v.clone());
        }
        let flow = if v.is_truthy() {
            if with {
                self.list(&b.then, &v, out)
            } else {
                self.list(&b.then, dot, out)
            }
        } else {
            self.list(&b.otherwise, dot, out)
        };
        self.vars.truncate(mark);
        flow
    }

    fn range(
        &mut self,
        b: &'a Branch,
        dot: &Value<'a>,
        out: &mut String,
    ) -> Result<Flow, RenderError> {
        let mark = self.vars.len();
        let v = self.pipeline(&b.pipe, dot)?;
        if b.pipe.declare {
            for _ in &b.pipe.slots {
                self.vars.push(Value::Missing);
            }
        }
        let result = self.range_items(b, v, out);
        self.vars.truncate(mark);
        match result? {
            true => Ok(Flow::Normal),
            false => self.list(&b.otherwise, dot, out),
        }
    }

    /// Runs the body per element; returns whether there was any element.
    fn range_items(
        &mut self,
        b: &'a Branch,
        v: Value<'a>,
        out: &mut String,
    ) -> Result<bool, RenderError> {
        let mut any = false;
        macro_rules! each {
            ($key:expr, $elem:expr) => {{
                any = true;
                if self.iteration(b, $key, &$elem, out)? == Flow::Break {
                    break;
                }
            }};
        }
        match v {
            Value::Json(serde_json::Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    each!(Value::Int(i as i64), Value::Json(item));
                }
            }
            Value::Json(serde_json::Value::Object(m)) => {
                for (k, item) in format::sorted_map(m) {
                    each!(Value::Str(Cow::Borrowed(k.as_str())), Value::Json(item));
                }
            }
            Value::Strings(items) => {
                for (i, s) in items.iter().enumerate() {
                    each!(Value::Int(i as i64), Value::Str(Cow::Borrowed(s.as_str())));
                }
            }
            Value::List(items) => {
                for (i, item) in items.into_iter().enumerate() {
                    each!(Value::Int(i as i64), item);
                }
            }
            Value::Header(h) => {
                for (name, values) in format::sorted_header(h) {
                    each!(
                        Value::Str(Cow::Owned(name)),
                        Value::List(values.into_iter().map(Value::Str).collect())
                    );
                }
            }
            // Go 1.22: range over an integer counts from 0.
            Value::Int(n) => {
                if b.pipe.slots.len() > 1 {
                    return Err(RenderError::Range {
                        kind: "int with two variables",
                    });
                }
                for i in 0..n {
                    each!(Value::Int(i), Value::Int(i));
                }
            }
            Value::Missing | Value::Null | Value::Json(serde_json::Value::Null) => {}
            other => {
                return Err(RenderError::Range {
                    kind: format::go_type(&other),
                });
            }
        }
        Ok(any)
    }

    fn iteration(
        &mut self,
        b: &'a Branch,
        key: Value<'a>,
        elem: &Value<'a>,
        out: &mut String,
    ) -> Result<Flow, RenderError> {
        match b.pipe.slots.as_slice() {
            [] => {}
            [v] => {
                if let Some(slot) = self.vars.get_mut(*v) {
                    *slot = elem.clone();
                }
            }
            [k, v, ..] => {
                if let Some(slot) = self.vars.get_mut(*k) {
                    *slot = key;
                }
                if let Some(slot) = self.vars.get_mut(*v) {
                    *slot = elem.clone();
                }
            }
        }
        self.list(&b.then, elem, out)
    }

    fn pipeline(&mut self, pipe: &'a Pipeline, dot: &Value<'a>) -> Result<Value<'a>, RenderError> {
        let mut piped = None;
        for cmd in &pipe.cmds {
            piped = Some(self.command(cmd, dot, piped)?);
        }
        Ok(piped.unwrap_or(Value::Missing))
    }

    /// Evaluates operands (plus the piped value, last) into an argument list.
    fn args(
        &mut self,
        ops: &'a [Operand],
        dot: &Value<'a>,
        piped: Option<Value<'a>>,
    ) -> Result<Args<'a>, RenderError> {
        let mut args = Args::new();
        for op in ops {
            args.push(self.operand(op, dot)?);
        }
        if let Some(v) = piped {
            args.push(v);
        }
        Ok(args)
    }

    fn command(
        &mut self,
        cmd: &'a Command,
        dot: &Value<'a>,
        piped: Option<Value<'a>>,
    ) -> Result<Value<'a>, RenderError> {
        let (base, fields) = match &cmd.head {
            Operand::Func(f) => return self.call(*f, &cmd.args, dot, piped),
            Operand::Field(fields) => (dot.clone(), fields),
            Operand::Var { slot, fields } => (self.var(*slot), fields),
            Operand::Pipe { pipe, fields } => (self.pipeline(pipe, dot)?, fields),
            // The parser allows no arguments and no piped value here.
            other => return self.operand(other, dot),
        };
        let Some((last, init)) = fields.split_last() else {
            return Ok(base);
        };
        let mut recv = base;
        for name in init {
            recv = field(&recv, name)?;
        }
        if cmd.args.is_empty() && piped.is_none() {
            return field(&recv, last);
        }
        let mut args = self.args(&cmd.args, dot, piped)?;
        method(&recv, last, args.as_mut_slice())
    }

    fn call(
        &mut self,
        f: Func,
        ops: &'a [Operand],
        dot: &Value<'a>,
        piped: Option<Value<'a>>,
    ) -> Result<Value<'a>, RenderError> {
        if matches!(f, Func::And | Func::Or) {
            // Short-circuit: stop at the first argument that decides.
            if ops.is_empty() && piped.is_none() {
                return Err(RenderError::ArgCount {
                    func: f.name(),
                    want: "at least 1",
                    got: 0,
                });
            }
            let want = f == Func::Or;
            let mut last = Value::Missing;
            for op in ops {
                last = self.operand(op, dot)?;
                if last.is_truthy() == want {
                    return Ok(last);
                }
            }
            return Ok(piped.unwrap_or(last));
        }
        let mut args = self.args(ops, dot, piped)?;
        let value = funcs::call(f, args.as_mut_slice())?;
        if matches!(&value, Value::Str(s) if s.len() > MAX_RENDER_BYTES) {
            return Err(RenderError::TooLarge);
        }
        Ok(value)
    }

    fn var(&self, slot: Option<usize>) -> Value<'a> {
        match slot {
            None => Value::Object(self.root),
            Some(i) => self.vars.get(i).cloned().unwrap_or(Value::Missing),
        }
    }

    fn operand(&mut self, op: &'a Operand, dot: &Value<'a>) -> Result<Value<'a>, RenderError> {
        let (base, fields) = match op {
            Operand::Func(f) => return self.call(*f, &[], dot, None),
            Operand::Dot => return Ok(dot.clone()),
            Operand::Field(fields) => (dot.clone(), fields),
            Operand::Var { slot, fields } => (self.var(*slot), fields),
            Operand::Pipe { pipe, fields } => (self.pipeline(pipe, dot)?, fields),
            Operand::Str(s) => return Ok(Value::Str(Cow::Borrowed(s.as_str()))),
            Operand::Int(i) => return Ok(Value::Int(*i)),
            Operand::Float(f) => return Ok(Value::Float(*f)),
            Operand::Bool(b) => return Ok(Value::Bool(*b)),
            Operand::Nil => return Ok(Value::Null),
        };
        let mut v = base;
        for name in fields.iter() {
            v = field(&v, name)?;
        }
        Ok(v)
    }
}
