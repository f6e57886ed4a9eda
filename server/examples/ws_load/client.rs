//! The load generator's WebSocket client: RFC 6455 reduced to what the
//! benchmark needs.

use std::future::poll_fn;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use anyhow::{Context as _, bail};
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::client::generate_key;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// Bytes asked of the kernel per read, at least. More than a bar frame, so
/// that a read which returns less shows tokio the socket is drained (one
/// `recv` per frame, not two).
const READ_BYTES: usize = 512;
/// Largest frame accepted from a server (snapshots included).
const MAX_FRAME_BYTES: usize = 1 << 20;

pub(crate) const OP_TEXT: u8 = 0x1;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xa;

/// A WebSocket client reduced to what the benchmark needs (RFC 6455 framing
/// over a plain `TcpStream`): the opening handshake, masked frames out,
/// unmasked unfragmented frames in, pings answered, no extensions. The
/// generator shares the machine's two cores with the server, so every
/// microsecond it spends per delivery is taken from the server; a full client
/// library (tokio-tungstenite, one task per connection) cost about 9 µs per
/// delivery, close to the server's own cost. Both servers are measured with
/// this same client.
pub(crate) struct Client {
    stream: TcpStream,
    /// Read buffer, zero-filled once when it grows; `start..end` is unread.
    pub(crate) buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Size of the frame being read, when larger than what is buffered.
    want: usize,
    /// Masking key of this client's frames.
    mask: [u8; 4],
}

/// Where a complete frame lies in [`Client::buf`].
pub(crate) struct FrameAt {
    pub(crate) opcode: u8,
    pub(crate) payload: std::ops::Range<usize>,
}

impl Client {
    /// Connects and completes the opening handshake.
    pub(crate) async fn open(addr: SocketAddr, mask: [u8; 4]) -> anyhow::Result<Self> {
        let mut stream = TcpStream::connect(addr).await?;
        let key = generate_key();
        let request = format!(
            "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut client = Self { stream, buf: vec![0; READ_BYTES], start: 0, end: 0, want: 0, mask };
        let head = loop {
            if let Some(end) = client.unread().windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            if client.end > 16 * 1024 {
                bail!("handshake response head too long");
            }
            if poll_fn(|cx| client.poll_fill(cx)).await? == 0 {
                bail!("closed during the handshake");
            }
        };
        let text = std::str::from_utf8(&client.unread()[..head]).context("handshake response")?;
        if !text.starts_with("HTTP/1.1 101") {
            bail!("handshake refused: {}", text.lines().next().unwrap_or_default());
        }
        let accept = derive_accept_key(key.as_bytes());
        let accepted = text
            .lines()
            .filter_map(|l| l.split_once(':'))
            .any(|(name, value)| name.trim().eq_ignore_ascii_case("sec-websocket-accept") && value.trim() == accept);
        if !accepted {
            bail!("handshake response without the right Sec-WebSocket-Accept");
        }
        client.start += head;
        Ok(client)
    }

    fn unread(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// One masked frame, ready to write.
    fn masked(&self, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut frame = Vec::with_capacity(payload.len() + 14);
        frame.push(0x80 | opcode);
        match payload.len() {
            n @ 0..=125 => frame.push(0x80 | n as u8),
            n @ 126..=0xffff => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&self.mask);
        frame.extend(payload.iter().zip(self.mask.iter().cycle()).map(|(b, m)| b ^ m));
        frame
    }

    /// Sends one frame.
    pub(crate) async fn send(&mut self, opcode: u8, payload: &[u8]) -> anyhow::Result<()> {
        let frame = self.masked(opcode, payload);
        Ok(self.stream.write_all(&frame).await?)
    }

    /// Sends one small frame without waiting (replies from the receive loop).
    fn send_now(&mut self, opcode: u8, payload: &[u8]) -> anyhow::Result<()> {
        let frame = self.masked(opcode, payload);
        if self.stream.try_write(&frame)? < frame.len() {
            bail!("socket full while answering a ping");
        }
        Ok(())
    }

    /// Reads what the socket has, into at least [`READ_BYTES`] of room;
    /// `Ok(0)` at the end of the stream.
    pub(crate) fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let size = (self.end + READ_BYTES).max(self.want);
        if self.buf.len() < size {
            self.buf.resize(size, 0);
        }
        let mut room = ReadBuf::new(&mut self.buf[self.end..]);
        ready!(Pin::new(&mut self.stream).poll_read(cx, &mut room))?;
        let read = room.filled().len();
        self.end += read;
        Poll::Ready(Ok(read))
    }

    /// The next complete frame already read, if any.
    pub(crate) fn frame(&mut self) -> anyhow::Result<Option<FrameAt>> {
        let data = self.unread();
        let [b0, b1, ..] = *data else { return Ok(None) };
        if b1 & 0x80 != 0 {
            bail!("masked frame from the server");
        }
        if b0 & 0x70 != 0 {
            bail!("frame with reserved bits set (no extension was negotiated)");
        }
        let (len, header) = match b1 & 0x7f {
            126 => match data.get(2..4) {
                Some(n) => (usize::from(u16::from_be_bytes([n[0], n[1]])), 4),
                None => return Ok(None),
            },
            127 => match data.get(2..10) {
                Some(n) => (usize::try_from(u64::from_be_bytes(n.try_into()?)).unwrap_or(usize::MAX), 10),
                None => return Ok(None),
            },
            n => (usize::from(n), 2),
        };
        if len > MAX_FRAME_BYTES {
            bail!("frame of {len} bytes");
        }
        if data.len() < header + len {
            self.want = header + len;
            return Ok(None);
        }
        if b0 & 0x80 == 0 || b0 & 0x0f == 0 {
            bail!("fragmented message (neither server fragments)");
        }
        let start = self.start + header;
        self.start = start + len;
        Ok(Some(FrameAt { opcode: b0 & 0x0f, payload: start..start + len }))
    }

    /// Answers a control frame; `Err` for a close frame.
    pub(crate) fn control(&mut self, frame: FrameAt) -> anyhow::Result<()> {
        match frame.opcode {
            OP_PING => {
                let payload = self.buf[frame.payload].to_vec();
                self.send_now(OP_PONG, &payload)
            }
            OP_CLOSE => {
                let payload = &self.buf[frame.payload];
                let code = payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]]));
                let reason = String::from_utf8_lossy(payload.get(2..).unwrap_or_default());
                bail!("server closed the connection ({code:?} {reason})")
            }
            _ => Ok(()),
        }
    }
}
