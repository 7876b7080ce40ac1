use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let state = messenger_webhook::State::from_env().await?;
    let state = &state;
    run(service_fn(move |req: Request| async move {
        messenger_webhook::handle(state, req).await
    }))
    .await
}
