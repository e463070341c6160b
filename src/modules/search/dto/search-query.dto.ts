import { IsString, Length, IsOptional } from 'class-validator';

// GET /chat/search?q= and GET /chat/admin/search?q=&user_id=
export class SearchQueryDto {
  @IsString() @Length(1, 200) q!: string;
}

export class AdminSearchQueryDto extends SearchQueryDto {
  @IsOptional() @IsString() @Length(1, 256) user_id?: string;
}
