use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let state = dlq_redrive::State::from_env().await?;
    let state = &state;
    run(service_fn(
        move |ev: LambdaEvent<dlq_redrive::RedriveRequest>| async move {
            dlq_redrive::handle(state, ev.payload).await
        },
    ))
    .await
}
