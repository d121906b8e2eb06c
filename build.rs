//! Compiles the gRPC service's `.proto` with protox (pure Rust: no system `protoc` needed) and
//! generates its tonic server and client, plus the descriptor set server reflection serves.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "proto/pinsetter/v1/pinsetter.proto";
    println!("cargo:rerun-if-changed={proto}");
    let descriptors = protox::compile([proto], ["proto"])?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("pinsetter_descriptor.bin"), prost::Message::encode_to_vec(&descriptors))?;
    tonic_prost_build::configure().compile_fds(descriptors)?;
    Ok(())
}
