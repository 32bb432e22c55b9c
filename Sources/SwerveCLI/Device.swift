import ArgumentParser
import CPUBackend
import SwerveCore

/// `--device` (vLLM's flag and names): which backend runs the model. The one place every command
/// constructs its backend; `auto` is the CPU until another backend exists, and a device Swerve has no
/// backend for is refused before anything loads.
enum Device: String, ExpressibleByArgument, CaseIterable, Sendable {
    case auto
    case cpu
    case cuda

    /// Why this device cannot run here, if it cannot.
    var unavailable: String? {
        switch self {
        case .auto, .cpu: nil
        case .cuda:
            "--device cuda: Swerve has no CUDA backend yet (a backend implements SwerveCore's Backend protocol); "
                + "use --device cpu"
        }
    }

    /// The backend for this device: `threads` workers (all cores when nil), kernels capped at `isa`.
    func makeBackend(threads: Int?, isa: String?) throws -> any Backend & BackendLimits {
        if let unavailable { throw ValidationError(unavailable) }
        let level = isa.flatMap(CPUBackend.isa(named:))
        // `--cpu-isa` caps every kernel family of the process, as `SWERVE_CPU_ISA` does.
        if let level { CPUBackend.capProcessLevel(level) }
        return CPUBackend(threads: threads, isa: level)
    }
}
