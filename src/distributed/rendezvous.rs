//! Rendezvous without an MPI launcher: processes started separately (by
//! `multiprocessing.spawn`, by hand, on several machines) that know rank 0's address and port
//! (`MASTER_ADDR`/`MASTER_PORT`, or `tcp://host:port`) join one MPI world.
//!
//! Rank 0 listens on the port and starts Open MPI's `ompi-server`, the name service through
//! which separately started MPI jobs connect; every other rank connects, says its rank and
//! the world's size, and receives the server's address. Each then starts MPI pointed at that
//! server, and the world grows one rank at a time through an MPI port whose name travels on
//! the same sockets ([`mpi::join_world`]); rank 0 hands the port to a rank only once that
//! rank reports MPI started, so that no MPI call waits on a process that failed before it.
//! Every socket wait is bounded by the group's timeout. The sockets carry nothing else: all
//! data moves through MPI.

use super::mpi::{self, Comm, PortExchange};
use crate::error::{Error, Result};
use parking_lot::Mutex;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The environment variable that points a singleton MPI process at `ompi-server`.
const SERVER_URI: &str = "OMPI_MCA_pmix_server_uri";

/// The first bytes of a rank's hello (anything else connecting to the port is ignored).
const MAGIC: &[u8; 8] = b"RTRDV01\0";

/// The name server rank 0 started, kept while MPI may need it: its shell parent ends it when
/// this pipe closes, so it also ends when this process dies.
static SERVER: Mutex<Option<(Child, ChildStdin)>> = Mutex::new(None);

fn err(msg: String) -> Error {
    Error::Runtime(format!("init_process_group: {msg}"))
}

/// The time left before `deadline`, at least a millisecond (a zero timeout means none).
fn left(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1))
}

/// Writes one framed message: a status byte (0 ok, 1 error) and a length-prefixed text.
fn send(s: &mut TcpStream, ok: bool, text: &str) -> std::io::Result<()> {
    let mut buf = vec![u8::from(!ok)];
    buf.extend_from_slice(&(text.len() as u64).to_le_bytes());
    buf.extend_from_slice(text.as_bytes());
    s.write_all(&buf)
}

/// Reads one framed message before `deadline`; an error message from the peer becomes an
/// error here.
fn recv(s: &mut TcpStream, peer: &str, deadline: Instant) -> Result<String> {
    let io = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            err(format!("timed out waiting for {peer}"))
        }
        _ => err(format!("lost the connection to {peer} ({e})")),
    };
    s.set_read_timeout(Some(left(deadline))).map_err(io)?;
    let mut head = [0u8; 9];
    s.read_exact(&mut head).map_err(io)?;
    let len = u64::from_le_bytes(head[1..].try_into().expect("8 bytes")) as usize;
    if len > 1 << 16 {
        return Err(err(format!("a malformed rendezvous message from {peer}")));
    }
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).map_err(io)?;
    let text = String::from_utf8_lossy(&body).into_owned();
    if head[0] != 0 {
        return Err(err(text));
    }
    Ok(text)
}

/// Stops the name server when dropped, unless the rendezvous succeeded.
struct ServerGuard {
    armed: bool,
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        if self.armed {
            stop_server();
        }
    }
}

/// A fresh folder of this process's own for the server's address and log.
fn private_dir() -> Result<std::path::PathBuf> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "rustorch-ompi-server-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir(&dir).map_err(|e| err(format!("cannot create {dir:?} ({e})")))?;
    Ok(dir)
}

/// Whether an executable named `name` is in one of the `PATH` folders.
fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
}

/// Starts `ompi-server` and answers the address it reports.
fn start_server(deadline: Instant) -> Result<String> {
    let dir = private_dir()?;
    let (uri_file, log_file) = (dir.join("uri"), dir.join("log"));
    // The shell ends the server when its standard input closes (this process exited or
    // finalized MPI), and itself ends when the server does.
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(
            "exec 3<&0; ompi-server --no-daemonize -r \"$0\" 2>\"$1\" & pid=$!; \
             { read _ <&3; kill $pid 2>/dev/null; } & wait $pid",
        )
        .arg(&uri_file)
        .arg(&log_file)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // A server started by a process whose MPI already runs must not take its settings.
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("PMIX_")
            || (k.starts_with("OMPI_") && !k.starts_with("OMPI_ALLOW_RUN_AS_ROOT"))
        {
            cmd.env_remove(k.as_ref());
        }
    }
    // Open MPI 4's server refuses to start when its remote launcher (ssh or rsh) is not on
    // the PATH, as in many containers, although it launches nothing remote: any command
    // that exists satisfies the check.
    if !on_path("ssh") && !on_path("rsh") {
        cmd.env("OMPI_MCA_plm_rsh_agent", "false");
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| err(format!("cannot start ompi-server ({e})")))?;
    let stdin = child.stdin.take().expect("piped");
    let result = loop {
        if let Ok(uri) = std::fs::read_to_string(&uri_file) {
            let uri = uri.trim().to_string();
            if !uri.is_empty() {
                *SERVER.lock() = Some((child, stdin));
                break Ok(uri);
            }
        }
        if let Ok(Some(_)) = child.try_wait() {
            let log = std::fs::read_to_string(&log_file).unwrap_or_default();
            let log: String = log.lines().take(20).collect::<Vec<_>>().join("\n");
            break Err(err(format!(
                "Open MPI's ompi-server did not start (install openmpi-bin; as root, set OMPI_ALLOW_RUN_AS_ROOT=1 and OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1): {}",
                if log.trim().is_empty() { "ompi-server: command not found?" } else { log.trim() }
            )));
        }
        if Instant::now() >= deadline {
            drop(stdin);
            let _ = child.wait();
            break Err(err("timed out waiting for ompi-server to start".into()));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Ends the name server rank 0 started, if any (at MPI's finalisation).
pub fn stop_server() {
    if let Some((mut child, stdin)) = SERVER.lock().take() {
        drop(stdin);
        let _ = child.wait();
    }
}

/// Reads a peer's hello: the magic bytes, its rank and the world size it expects; `None` for
/// anything else (a port scanner, a health check), which is ignored.
fn hello(s: &mut TcpStream, deadline: Instant) -> Option<(u64, u64)> {
    s.set_read_timeout(Some(left(deadline).min(Duration::from_secs(2))))
        .ok()?;
    let mut b = [0u8; 24];
    s.read_exact(&mut b).ok()?;
    if &b[..8] != MAGIC {
        return None;
    }
    let n = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
    Some((n(8), n(16)))
}

/// Sends `problem` to every connected rank and answers it as this rank's error.
fn fail_all(peers: &mut [Option<TcpStream>], problem: String) -> Error {
    for s in peers.iter_mut().flatten() {
        let _ = send(s, false, &problem);
    }
    err(problem)
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
                if s.set_nonblocking(false).is_err() {
                    continue;
                }
                let Some((rank, want)) = hello(&mut s, deadline) else {
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
                    return Err(fail_all(&mut peers, p));
                }
                peers[rank as usize] = Some(s);
                joined += 1;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    let missing: Vec<String> = (1..size)
                        .filter(|&r| peers[r].is_none())
                        .map(|r| r.to_string())
                        .collect();
                    let p = format!(
                        "timed out waiting for rank(s) {} to connect to port {port}",
                        missing.join(", ")
                    );
                    return Err(fail_all(&mut peers, p));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => {
                let p = format!("accepting a connection failed ({e})");
                return Err(fail_all(&mut peers, p));
            }
        }
    }
    let mut streams: Vec<TcpStream> = Vec::with_capacity(size);
    for (r, p) in peers.into_iter().enumerate().skip(1) {
        let mut s = p.expect("every rank joined");
        s.set_write_timeout(Some(left(deadline)))
            .map_err(|e| err(e.to_string()))?;
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
            match TcpStream::connect_timeout(&t, left(deadline).min(Duration::from_secs(1))) {
                Ok(mut s) => {
                    let mut b = MAGIC.to_vec();
                    b.extend_from_slice(&(rank as u64).to_le_bytes());
                    b.extend_from_slice(&(size as u64).to_le_bytes());
                    s.set_write_timeout(Some(left(deadline)))
                        .map_err(|e| err(e.to_string()))?;
                    s.write_all(&b)
                        .map_err(|e| err(format!("lost rank 0 ({e})")))?;
                    let uri = recv(&mut s, "rank 0", deadline)?;
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
/// communicator, rank and size. A process that joined once keeps that world (a second
/// `init_process_group` after `destroy_process_group` finds it again).
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
    if let Some(w) = mpi::joined_world() {
        if (w.1, w.2) != (rank, size) {
            return Err(err(format!(
                "this process already joined a world as rank {} of {}; MPI cannot start again as rank {rank} of {size}",
                w.1, w.2
            )));
        }
        return Ok(w);
    }
    let deadline = Instant::now() + timeout;
    if rank == 0 {
        let mut guard = ServerGuard { armed: true };
        let (uri, mut peers) = serve(port, size, deadline)?;
        std::env::set_var(SERVER_URI, &uri);
        let mut hand_out = |k: usize, name: &str| -> Result<()> {
            let s = &mut peers[k - 1];
            // rank k says MPI started before it is given the port
            recv(s, &format!("rank {k}"), deadline)?;
            send(s, true, name).map_err(|e| err(format!("lost rank {k} ({e})")))
        };
        let world = mpi::join_world(rank, size, PortExchange::Root(&mut hand_out))?;
        guard.armed = false;
        Ok(world)
    } else {
        let (uri, mut s) = dial(addr, port, rank, size, deadline)?;
        std::env::set_var(SERVER_URI, &uri);
        let mut take = || {
            send(&mut s, true, "ready").map_err(|e| err(format!("lost rank 0 ({e})")))?;
            recv(&mut s, "rank 0", deadline)
        };
        mpi::join_world(rank, size, PortExchange::Member(&mut take))
    }
}
