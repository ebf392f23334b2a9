//! Compiles the public gRPC contract with a pure-Rust protobuf compiler (protox), so building
//! needs no system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "proto/bucketbus/v1/bucketbus.proto";
    println!("cargo:rerun-if-changed={proto}");
    println!("cargo:rerun-if-changed=migrations");
    let descriptors = protox::compile([proto], ["proto"])?;
    tonic_prost_build::configure()
        .codec_path("crate::grpc::codec::ValidatingCodec")
        .compile_fds(descriptors)?;
    Ok(())
}
