//! Rendezvous without an MPI launcher: processes started separately (by
//! `multiprocessing.spawn`, by hand, on several machines) that know rank 0's address and port
//! (`MASTER_ADDR`/`MASTER_PORT`, or `tcp://host:port`) join one MPI world.
//!
//! Rank 0 listens on the port and starts Open MPI's `ompi-server`, the name service through
//! which separately started MPI jobs connect; every other rank connects, says its rank and
//! the world's size, and receives the server's address. Each then starts MPI pointed at that
//! server, and the world grows one rank at a time through an MPI port whose name travels on
//! the same sockets ([`mpi::join_world`]). The sockets carry nothing else: all data moves
//! through MPI.

use super::mpi::{self, Comm, PortExchange};
use crate::error::{Error, Result};
use parking_lot::Mutex;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The environment variable that points a singleton MPI process at `ompi-server`.
const SERVER_URI: &str = "OMPI_MCA_pmix_server_uri";

/// The name server rank 0 started, kept while MPI may need it: its shell parent ends it when
/// this pipe closes, so it also ends when this process dies.
static SERVER: Mutex<Option<(Child, ChildStdin)>> = Mutex::new(None);

fn err(msg: String) -> Error {
    Error::Runtime(format!("init_process_group: {msg}"))
}

/// Writes one framed message: a status byte (0 ok, 1 error) and a length-prefixed text.
fn send(s: &mut TcpStream, ok: bool, text: &str) -> std::io::Result<()> {
    let mut buf = vec![u8::from(!ok)];
    buf.extend_from_slice(&(text.len() as u64).to_le_bytes());
    buf.extend_from_slice(text.as_bytes());
    s.write_all(&buf)
}

/// Reads one framed message; an error message from the peer becomes an error here.
fn recv(s: &mut TcpStream) -> Result<String> {
    let io = |e: std::io::Error| err(format!("lost the connection to rank 0 ({e})"));
    let mut head = [0u8; 9];
    s.read_exact(&mut head).map_err(io)?;
    let len = u64::from_le_bytes(head[1..].try_into().expect("8 bytes")) as usize;
    if len > 1 << 16 {
        return Err(err("a malformed rendezvous message".into()));
    }
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).map_err(io)?;
    let text = String::from_utf8_lossy(&body).into_owned();
    if head[0] != 0 {
        return Err(err(text));
    }
    Ok(text)
}

/// Starts `ompi-server` and answers the address it reports.
fn start_server(deadline: Instant) -> Result<String> {
    let dir = std::env::temp_dir().join(format!("rustorch-ompi-server-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| err(format!("cannot create {dir:?} ({e})")))?;
    let uri_file = dir.join("uri");
    let _ = std::fs::remove_file(&uri_file);
    // The shell ends the server when its standard input closes (this process exited or
    // finalized MPI).
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ompi-server --no-daemonize -r \"$0\" & pid=$!; read _; kill $pid 2>/dev/null")
        .arg(&uri_file)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| err(format!("cannot start ompi-server ({e})")))?;
    let stdin = child.stdin.take().expect("piped");
    loop {
        if let Ok(uri) = std::fs::read_to_string(&uri_file) {
            let uri = uri.trim().to_string();
            if !uri.is_empty() {
                *SERVER.lock() = Some((child, stdin));
                let _ = std::fs::remove_dir_all(&dir);
                return Ok(uri);
            }
        }
        if let Ok(Some(_)) = child.try_wait() {
            let mut text = String::new();
            if let Some(e) = child.stderr.take() {
                for line in BufReader::new(e).lines().map_while(|l| l.ok()).take(20) {
                    text.push_str(&line);
                    text.push('\n');
                }
            }
            return Err(err(format!(
                "Open MPI's ompi-server did not start (install openmpi-bin; as root, set OMPI_ALLOW_RUN_AS_ROOT=1 and OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1): {}",
                text.trim()
            )));
        }
        if Instant::now() >= deadline {
            drop(stdin);
            let _ = child.wait();
            return Err(err("timed out waiting for ompi-server to start".into()));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Ends the name server rank 0 started, if any (at MPI's finalisation).
pub fn stop_server() {
    if let Some((mut child, stdin)) = SERVER.lock().take() {
        drop(stdin);
        let _ = child.wait();
    }
}

/// Reads a peer's hello: its rank and the world size it expects.
fn hello(s: &mut TcpStream) -> std::io::Result<(u64, u64)> {
    let mut b = [0u8; 16];
    s.read_exact(&mut b)?;
    let n = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
    Ok((n(0), n(8)))
}

/// Rank 0: listens on `port`, starts the name server, and collects one connection per
/// other rank, indexed by rank.
fn serve(port: u16, size: usize, deadline: Instant) -> Result<(String, Vec<TcpStream>)> {
    let listener = TcpListener::bind(("0.0.0.0", port))
        .or_else(|_| TcpListener::bind(("::", port)))
        .map_err(|e| {
            err(format!(
                "rank 0 cannot listen on port {port} ({e}); choose another MASTER_PORT"
            ))
        })?;
    listener
        .set_nonblocking(true)
        .map_err(|e| err(e.to_string()))?;
    let uri = start_server(deadline)?;
    let mut peers: Vec<Option<TcpStream>> = (0..size).map(|_| None).collect();
    let mut joined = 1;
    while joined < size {
        match listener.accept() {
            Ok((mut s, _)) => {
                s.set_nonblocking(false).map_err(|e| err(e.to_string()))?;
                s.set_read_timeout(Some(Duration::from_secs(10)))
                    .map_err(|e| err(e.to_string()))?;
                let Ok((rank, want)) = hello(&mut s) else {
                    continue;
                };
                let problem = if want != size as u64 {
                    Some(format!(
                        "rank {rank} expects world_size={want}, rank 0 has world_size={size}"
                    ))
                } else if rank == 0 || rank >= size as u64 {
                    Some(format!(
                        "a process joined with rank {rank}, outside 1..{size} (world_size={size})"
                    ))
                } else if peers[rank as usize].is_some() {
                    Some(format!("two processes joined with rank {rank}"))
                } else {
                    None
                };
                if let Some(p) = problem {
                    let _ = send(&mut s, false, &p);
                    stop_server();
                    return Err(err(p));
                }
                s.set_read_timeout(None).map_err(|e| err(e.to_string()))?;
                peers[rank as usize] = Some(s);
                joined += 1;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    stop_server();
                    let missing: Vec<String> = (1..size)
                        .filter(|&r| peers[r].is_none())
                        .map(|r| r.to_string())
                        .collect();
                    return Err(err(format!(
                        "timed out waiting for rank(s) {} to connect to port {port}",
                        missing.join(", ")
                    )));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(err(format!("accepting a connection failed ({e})"))),
        }
    }
    let mut streams: Vec<TcpStream> = Vec::with_capacity(size);
    for (r, p) in peers.into_iter().enumerate().skip(1) {
        let mut s = p.expect("every rank joined");
        send(&mut s, true, &uri).map_err(|e| err(format!("lost rank {r} ({e})")))?;
        streams.push(s);
    }
    Ok((uri, streams))
}

/// Any other rank: connects to rank 0 (retrying until it listens), says who it is, and
/// receives the name server's address.
fn dial(
    addr: &str,
    port: u16,
    rank: usize,
    size: usize,
    deadline: Instant,
) -> Result<(String, TcpStream)> {
    let mut last = String::new();
    loop {
        let targets = (addr, port)
            .to_socket_addrs()
            .map_err(|e| err(format!("cannot resolve MASTER_ADDR {addr:?} ({e})")))?;
        for t in targets {
            match TcpStream::connect_timeout(&t, Duration::from_secs(1)) {
                Ok(mut s) => {
                    let mut b = (rank as u64).to_le_bytes().to_vec();
                    b.extend_from_slice(&(size as u64).to_le_bytes());
                    s.write_all(&b)
                        .map_err(|e| err(format!("lost rank 0 ({e})")))?;
                    let uri = recv(&mut s)?;
                    return Ok((uri, s));
                }
                Err(e) => last = e.to_string(),
            }
        }
        if Instant::now() >= deadline {
            return Err(err(format!(
                "rank {rank} timed out connecting to rank 0 at {addr}:{port} ({last})"
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Joins rank `rank` of a world of `size` separately started processes whose rank 0 listens
/// at `addr:port`; waits at most `timeout` for the others to arrive. Answers the world's
/// communicator, rank and size.
pub fn join(
    addr: &str,
    port: u16,
    rank: usize,
    size: usize,
    timeout: Duration,
) -> Result<(Arc<Comm>, usize, usize)> {
    if rank >= size {
        return Err(Error::Value(format!(
            "init_process_group: rank {rank} is outside a world of size {size}"
        )));
    }
    let deadline = Instant::now() + timeout;
    if rank == 0 {
        let (uri, mut peers) = serve(port, size, deadline)?;
        std::env::set_var(SERVER_URI, &uri);
        let mut hand_out = |k: usize, name: &str| -> Result<()> {
            send(&mut peers[k - 1], true, name).map_err(|e| err(format!("lost rank {k} ({e})")))
        };
        mpi::join_world(rank, size, PortExchange::Root(&mut hand_out))
    } else {
        let (uri, mut s) = dial(addr, port, rank, size, deadline)?;
        std::env::set_var(SERVER_URI, &uri);
        let mut take = || recv(&mut s);
        mpi::join_world(rank, size, PortExchange::Member(&mut take))
    }
}
