//! What the fake channel APIs share: serving a router on a loopback address.

use std::net::SocketAddr;

/// Serves `app` on `addr` (port 0: any free port); returns the bound address and the server task.
pub async fn serve(
    app: axum::Router,
    addr: SocketAddr,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((bound, task))
}
