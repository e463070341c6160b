import { ApiProperty } from '@nestjs/swagger';

export class UploadBodyDto {
  @ApiProperty({ type: 'string', format: 'binary', description: 'the file (multipart field `file`)' })
  file!: unknown;
}

export class UploadViewDto {
  @ApiProperty() file_id!: string;
  @ApiProperty({ example: '/chat/files/abc123' }) file_url!: string;
  @ApiProperty({ description: 'sanitised name; the extension follows the detected type' }) name!: string;
  @ApiProperty() size!: number;
  @ApiProperty({ example: 'image/png' }) mime_type!: string;
}

export class SignedLinkDto {
  @ApiProperty({ description: 'signed, expiring URL of the bytes' }) url!: string;
  @ApiProperty({ format: 'date-time' }) expires_at!: string;
}
