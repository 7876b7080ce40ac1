use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let state = conversation_router::State::from_env().await?;
    let state = &state;
    run(service_fn(move |ev: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(conversation_router::handle(state, ev.payload).await)
    }))
    .await
}
