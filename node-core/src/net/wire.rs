//! The request-response protocol `/leither/rr/1`: blocks, versions, backup requests and
//! opaque application messages, each frame a length-prefixed postcard value with hard
//! size limits (a peer that sends more is cut off before the bytes are buffered).

use std::io;

use futures::prelude::*;
use libp2p::StreamProtocol;
use serde::{Deserialize, Serialize};

use crate::identity::{DeviceCert, Signed};
use crate::mimei::{MimeiId, MimeiInfo, VersionRecord};
use crate::store::BlockHash;

pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/leither/rr/1");
/// Largest request frame.
pub const MAX_REQUEST_BYTES: usize = 1024 * 1024;
/// Largest response frame (a batch of blocks).
pub const MAX_RESPONSE_BYTES: usize = 24 * 1024 * 1024;
/// Most blocks asked for in one request, and the byte budget a server fills per answer.
pub const MAX_BLOCKS_PER_REQUEST: usize = 256;
pub const RESPONSE_BLOCK_BUDGET: usize = 4 * 1024 * 1024;

/// A request from one node to another. Every request carries the requester's device
/// certificate so the server knows which user asks (the connection proves the node).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request {
    pub cert: Signed<DeviceCert>,
    pub body: RequestBody,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum RequestBody {
    /// Blocks of a Mimei the requester may read, by digest.
    Blocks {
        mimei: MimeiId,
        hashes: Vec<BlockHash>,
    },
    /// A version record (`None`: the newest) and the Mimei's info.
    Version { mimei: MimeiId, number: Option<u64> },
    /// Please keep a copy of this Mimei (pull it from me).
    Backup { mimei: MimeiId },
    /// An application message (social, org): the kind names the handler.
    App { kind: String, body: Bytes },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Response {
    /// One entry per requested digest, in order; `None` when not sent (unknown or over
    /// the byte budget: ask again).
    Blocks(Vec<Option<Bytes>>),
    Version {
        info: Box<MimeiInfo>,
        record: Box<VersionRecord>,
    },
    Accepted,
    App(Bytes),
    Error {
        code: String,
        message: String,
    },
}

impl Response {
    pub fn error(code: &str, message: impl Into<String>) -> Response {
        Response::Error {
            code: code.into(),
            message: message.into(),
        }
    }
}

/// A byte string encoded as one length-prefixed run (serde's default for `Vec<u8>`
/// goes byte by byte, which costs seconds per GiB of blocks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bytes(pub Vec<u8>);

impl Serialize for Bytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Bytes;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Bytes, E> {
                Ok(Bytes(v.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Bytes, E> {
                Ok(Bytes(v))
            }
        }
        d.deserialize_byte_buf(V)
    }
}

/// Length-prefixed postcard frames.
#[derive(Debug, Clone, Default)]
pub struct Codec;

async fn read_frame<T, V>(io: &mut T, max: usize) -> io::Result<V>
where
    T: AsyncRead + Unpin + Send,
    V: serde::de::DeserializeOwned,
{
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes exceeds {max}"),
        ));
    }
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await?;
    postcard::from_bytes(&buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

async fn write_frame<T, V>(io: &mut T, value: &V, max: usize) -> io::Result<()>
where
    T: AsyncWrite + Unpin + Send,
    V: Serialize,
{
    let buf =
        postcard::to_allocvec(value).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    if buf.len() > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {} bytes exceeds {max}", buf.len()),
        ));
    }
    io.write_all(&(buf.len() as u32).to_be_bytes()).await?;
    io.write_all(&buf).await?;
    io.close().await
}

impl libp2p::request_response::Codec for Codec {
    type Protocol = StreamProtocol;
    type Request = Request;
    type Response = Response;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Request>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, MAX_REQUEST_BYTES).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Response>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, MAX_RESPONSE_BYTES).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        r: Request,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &r, MAX_REQUEST_BYTES).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        r: Response,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &r, MAX_RESPONSE_BYTES).await
    }
}
