//! Unpacking `sql.rows.packed` (contract 0.2.0): the rows of a query as one JSON string, so they
//! cross the component boundary as one buffer instead of one value per cell.
//!
//! Only the shape the host writes is read: an array of arrays whose cells are `null`, an integer,
//! a real (with `.` or an exponent; parsed by the standard library, so exactly), a string, or the
//! objects `{"blob": s}` (one code point per byte) and `{"real": "inf" | "-inf" | "nan"}`.

use crate::host::sql::Value;

/// The rows of a packed result, one `Value` per cell.
pub fn unpack_rows(packed: &str) -> Result<Vec<Vec<Value>>, String> {
    let mut p = Parser { s: packed.as_bytes(), i: 0 };
    let rows = p.array(|p| p.array(|p| p.value()))?;
    p.ws();
    if p.i != p.s.len() {
        return Err(p.error("trailing characters"));
    }
    Ok(rows)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Parser<'a> {
    fn error(&self, what: &str) -> String {
        format!("packed rows: {} at byte {}", what, self.i)
    }

    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\n' | b'\r' | b'\t') {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.error(&format!("expected '{}'", c as char)))
        }
    }

    fn array<T>(&mut self, mut item: impl FnMut(&mut Self) -> Result<T, String>) -> Result<Vec<T>, String> {
        self.expect(b'[')?;
        let mut out = Vec::new();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(out);
        }
        loop {
            out.push(item(self)?);
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(out);
                }
                _ => return Err(self.error("expected ',' or ']'")),
            }
        }
    }

    fn value(&mut self) -> Result<Value, String> {
        match self.peek() {
            Some(b'n') if self.s[self.i..].starts_with(b"null") => {
                self.i += 4;
                Ok(Value::Null)
            }
            Some(b'"') => Ok(Value::Text(self.string()?)),
            Some(b'{') => self.object(),
            Some(c) if c == b'-' || c.is_ascii_digit() => self.number(),
            _ => Err(self.error("expected a value")),
        }
    }

    fn number(&mut self) -> Result<Value, String> {
        let start = self.i;
        let mut real = false;
        while self.i < self.s.len() {
            match self.s[self.i] {
                b'0'..=b'9' | b'-' | b'+' => {}
                b'.' | b'e' | b'E' => real = true,
                _ => break,
            }
            self.i += 1;
        }
        let text = std::str::from_utf8(&self.s[start..self.i]).map_err(|_| self.error("bad number"))?;
        if real {
            text.parse::<f64>().map(Value::Real).map_err(|_| self.error("bad real"))
        } else {
            text.parse::<i64>().map(Value::Integer).map_err(|_| self.error("bad integer"))
        }
    }

    fn object(&mut self) -> Result<Value, String> {
        self.expect(b'{')?;
        let key = self.string()?;
        self.expect(b':')?;
        let payload = self.string()?;
        self.expect(b'}')?;
        match key.as_str() {
            "blob" => Ok(Value::Blob(crate::http::octets_to_bytes(&payload))),
            "real" => match payload.as_str() {
                "inf" => Ok(Value::Real(f64::INFINITY)),
                "-inf" => Ok(Value::Real(f64::NEG_INFINITY)),
                "nan" => Ok(Value::Real(f64::NAN)),
                _ => Err(self.error("unknown real")),
            },
            _ => Err(self.error("unknown object")),
        }
    }

    fn string(&mut self) -> Result<String, String> {
        self.expect(b'"')?;
        let mut out = String::new();
        let mut run = self.i;
        loop {
            let c = *self.s.get(self.i).ok_or_else(|| self.error("unterminated string"))?;
            match c {
                b'"' => {
                    out.push_str(self.slice(run)?);
                    self.i += 1;
                    return Ok(out);
                }
                b'\\' => {
                    out.push_str(self.slice(run)?);
                    self.i += 1;
                    let e = *self.s.get(self.i).ok_or_else(|| self.error("unterminated escape"))?;
                    self.i += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => out.push(self.unicode_escape()?),
                        _ => return Err(self.error("unknown escape")),
                    }
                    run = self.i;
                }
                _ => self.i += 1,
            }
        }
    }

    /// The text from `start` to here (the input is a `str`, and escapes end on ASCII: valid UTF-8).
    fn slice(&self, start: usize) -> Result<&'a str, String> {
        std::str::from_utf8(&self.s[start..self.i]).map_err(|_| self.error("invalid UTF-8"))
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let digits = self.s.get(self.i..self.i + 4).ok_or_else(|| self.error("short \\u escape"))?;
        let text = std::str::from_utf8(digits).map_err(|_| self.error("bad \\u escape"))?;
        self.i += 4;
        u32::from_str_radix(text, 16).map_err(|_| self.error("bad \\u escape"))
    }

    fn unicode_escape(&mut self) -> Result<char, String> {
        let first = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&first) {
            if !self.s[self.i..].starts_with(b"\\u") {
                return Err(self.error("lone surrogate"));
            }
            self.i += 2;
            let second = self.hex4()?;
            0x10000 + ((first - 0xD800) << 10) + (second.wrapping_sub(0xDC00) & 0x3FF)
        } else {
            first
        };
        char::from_u32(code).ok_or_else(|| self.error("bad code point"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_cell() {
        let rows = unpack_rows(
            r#"[[null,-9223372036854775808,0.1,1e+300,-0.0,"a\"b\\c\n\u0001é😀",{"blob":"\u0000ÿ"},{"real":"-inf"}],[]]"#,
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        let r = &rows[0];
        assert!(matches!(r[0], Value::Null));
        assert!(matches!(r[1], Value::Integer(i64::MIN)));
        assert!(matches!(r[2], Value::Real(x) if x.to_bits() == 0.1f64.to_bits()));
        assert!(matches!(r[3], Value::Real(x) if x == 1e300));
        assert!(matches!(r[4], Value::Real(x) if x.to_bits() == (-0.0f64).to_bits()));
        assert!(matches!(&r[5], Value::Text(s) if s == "a\"b\\c\n\u{1}é😀"));
        assert!(matches!(&r[6], Value::Blob(b) if b == &vec![0u8, 255]));
        assert!(matches!(r[7], Value::Real(x) if x == f64::NEG_INFINITY));
        assert!(rows[1].is_empty());
    }

    #[test]
    fn surrogate_pairs_and_errors() {
        let rows = unpack_rows(r#"[["\ud83d\ude00"]]"#).unwrap();
        assert!(matches!(&rows[0][0], Value::Text(s) if s == "😀"));
        assert!(unpack_rows("[[1,]]").is_err());
        assert!(unpack_rows("[[\"x]]").is_err());
        assert!(unpack_rows("[[1]] x").is_err());
        assert!(unpack_rows("[[{\"other\":\"x\"}]]").is_err());
    }
}
