//! A check-in token drawn as a QR code, as SVG or as a grayscale PNG.

use qrcode::{Color, EcLevel, QrCode};

use crate::domain::DomainError;

/// Pixels per QR module in the PNG, and modules of quiet zone around it.
pub const PNG_SCALE: usize = 8;
pub const QUIET_ZONE: usize = 4;

fn code(token: &str) -> Result<QrCode, DomainError> {
    QrCode::with_error_correction_level(token.as_bytes(), EcLevel::M)
        .map_err(|err| DomainError::Corrupt(format!("QR code: {err}")))
}

/// The token as an SVG QR code, at least 320 pixels wide.
pub fn svg(token: &str) -> Result<String, DomainError> {
    Ok(code(token)?
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(320, 320)
        .quiet_zone(true)
        .build())
}

/// The token as an 8-bit grayscale PNG QR code.
pub fn png(token: &str) -> Result<Vec<u8>, DomainError> {
    let code = code(token)?;
    let width = code.width();
    let side = (width + 2 * QUIET_ZONE) * PNG_SCALE;
    let colors = code.to_colors();
    let mut pixels = vec![255u8; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color != Color::Dark {
            continue;
        }
        let (x, y) = (i % width + QUIET_ZONE, i / width + QUIET_ZONE);
        for dy in 0..PNG_SCALE {
            let row = (y * PNG_SCALE + dy) * side;
            pixels[row + x * PNG_SCALE..row + (x + 1) * PNG_SCALE].fill(0);
        }
    }
    let failed = |err: png::EncodingError| DomainError::Corrupt(format!("PNG: {err}"));
    let side = u32::try_from(side).map_err(|err| DomainError::Corrupt(err.to_string()))?;
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side, side);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(failed)?;
    writer.write_image_data(&pixels).map_err(failed)?;
    writer.finish().map_err(failed)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_codes_have_a_quiet_zone_and_dark_modules() {
        let width = code("hello").unwrap().width();
        let bytes = png("hello").unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        let decoder = ::png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        let side = (width + 2 * QUIET_ZONE) * PNG_SCALE;
        assert_eq!(info.width as usize, side);
        assert!(
            buf[..side * QUIET_ZONE * PNG_SCALE]
                .iter()
                .all(|p| *p == 255),
            "quiet zone"
        );
        assert!(buf.contains(&0));
    }
}
