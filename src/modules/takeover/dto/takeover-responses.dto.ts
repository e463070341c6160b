import { ApiProperty } from '@nestjs/swagger';

export class TakeoverViewDto {
  @ApiProperty() session_id!: string;
  @ApiProperty() admin_id!: string;
  @ApiProperty() admin_name!: string;
  @ApiProperty({ format: 'date-time' }) started_at!: string;
  @ApiProperty({ format: 'date-time', description: 'the claim lapses then unless renewed' })
  lease_until!: string;
  @ApiProperty({ description: 'false when this admin already held the claim' }) started!: boolean;
}

export class ReleaseResultDto {
  @ApiProperty() session_id!: string;
  @ApiProperty({ enum: [true] }) released!: boolean;
}
